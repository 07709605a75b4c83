import sys

from robot_learning.cli import main

sys.exit(main())
