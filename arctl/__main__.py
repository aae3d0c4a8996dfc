from arctl.cli import run

run()
