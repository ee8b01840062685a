from tripguard.cli import main

main()
