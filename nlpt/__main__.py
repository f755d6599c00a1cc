from nlpt.cli import main

main()
