from activecommerce.cli import main

main()
