from zwm.cli import main

main()
