"""python3 -m jobpipe_worker <module>[,<module>...]: imports the modules (dotted names or paths of
.py files), whose @pipeline decorators register their handlers, and runs the worker."""
import importlib
import importlib.util
import os
import sys

from .runtime import fail_config, run

USAGE = "usage: python3 -m jobpipe_worker <module>[,<module>...]  (dotted module names or .py file paths)"


def import_module(spec):
    if spec.endswith(".py") or os.sep in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            fail_config(f"no such file: {spec}")
        name = "jobpipe_user_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        # The file's own folder is importable, as when it is run as a script.
        sys.path.insert(0, os.path.dirname(path))
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name and spec.startswith(error.name):
            fail_config(f"cannot import {spec}: no module named {error.name}")
        raise


def main(argv):
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        sys.exit(0 if argv[:1] in (["-h"], ["--help"]) else 2)
    sys.path.insert(0, os.getcwd())
    for spec in filter(None, (part.strip() for part in argv[0].split(","))):
        import_module(spec)
    run()


def cli():
    """The jobpipe-worker console script."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
