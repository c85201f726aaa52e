import sys

from konvergo.cli import main

sys.exit(main())
