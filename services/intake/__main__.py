"""``python -m services.intake``: run the intake."""

from services.intake.main import main

main()
