from activecommerce.cli import main

# Guarded: worker processes (email.templates' parser pool) import the main module again.
if __name__ == "__main__":
    main()
