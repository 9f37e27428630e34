"""`python -m tljh.installer`: where the bootstrap hands over; the installer itself is tljh.install."""

import sys

from tljh.install.installer import main

if __name__ == "__main__":
    sys.exit(main())
