"""``sysmedic top``: the live terminal view (sysmedic/top.py), of this machine's daemon or of a
remote one (``--url``)."""

from .. import top


def run(args, home):
    feed = top.RemoteFeed(args["--url"], cafile=args["--cafile"]) if args["--url"] else top.LocalFeed(home)
    try:
        return top.run(feed, once=args["--once"])
    finally:
        feed.close()
