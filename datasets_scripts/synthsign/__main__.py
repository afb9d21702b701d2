from .generate import cli


cli()
