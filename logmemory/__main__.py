from logmemory.cli import main

main()
