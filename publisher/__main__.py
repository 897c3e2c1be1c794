from publisher.cli import main

# the guard matters: signage's drawing workers are spawned processes, which import the main
# module again, and must not run the command line a second time
if __name__ == "__main__":
    raise SystemExit(main())
