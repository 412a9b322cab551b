import sys

from codepager.cli.main import main

sys.exit(main())
