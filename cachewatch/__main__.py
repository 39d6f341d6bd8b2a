import sys

from cachewatch.cli import main

sys.exit(main())
