#!/usr/bin/python3
"""Serve Keystone or Barbican from Debian's Python packages on 127.0.0.1.

    wsgi_serve.py keystone PORT KEYSTONE_CONF
    wsgi_serve.py barbican PORT PASTE_INI

Keystone reads the config file named here (through OS_KEYSTONE_CONFIG_FILES);
Barbican finds its config only on oslo.config's default search path, so the
caller points HOME at the lab dir where ~/.barbican/barbican.conf lives.

wsgiref's server handles one request at a time, which is what keeps SQLite
from answering "database is locked". SIGTERM stops it.
"""

import signal
import sys
import os
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class QuietHandler(WSGIRequestHandler):
    """Logs one line per request to stderr (the daemon's log file) and never
    resolves the peer's name."""

    def address_string(self):
        return self.client_address[0]


def load(kind, arg):
    if kind == "keystone":
        os.environ["OS_KEYSTONE_CONFIG_FILES"] = arg
        # Keystone parses sys.argv through oslo.config: give it nothing.
        sys.argv = sys.argv[:1]
        from keystone.server import wsgi
        return wsgi.initialize_public_application()
    if kind == "barbican":
        sys.argv = sys.argv[:1]
        from paste import deploy
        return deploy.loadapp("config:" + os.path.abspath(arg))
    raise SystemExit("unknown app " + kind)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    kind, port, arg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    app = load(kind, arg)
    server = make_server("127.0.0.1", port, app,
                         server_class=WSGIServer, handler_class=QuietHandler)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print("%s listening on 127.0.0.1:%d" % (kind, port), file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
