"""The web console: server-rendered pages (Jinja2 templates, one stylesheet, SVG charts drawn in Python) over the
same Lifecycle as the JSON API. No JavaScript build, no CDN: it works offline and behind strict proxies."""
