"""The project's shared code: ``shared.runtime``, what the services import (and the
service image carries), and ``shared.tools``, what developers and operators use and the
services never import (the command line, the local stack, the bench, ...)."""
