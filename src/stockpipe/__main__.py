from stockpipe.cli import main

raise SystemExit(main())
