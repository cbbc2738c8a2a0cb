from heimdall_studio.cli import main

raise SystemExit(main())
