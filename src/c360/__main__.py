from c360.cli import main

main()
