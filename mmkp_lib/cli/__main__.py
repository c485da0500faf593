import sys

from mmkp_lib.cli import main

sys.exit(main())
