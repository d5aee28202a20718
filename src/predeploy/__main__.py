"""`python -m predeploy`: the same CLI as the `predeploy` command."""

from .cli import main

main()
