"""Run callables at the same moment on their own threads, so each gets its own DB connection."""

import threading


def at_once(*callables) -> list:
    """Start all callables together (a barrier), wait for all, return their results.

    Each thread closes its connections afterwards; an exception in any thread fails
    the calling test with that exception.
    """
    barrier, results, errors = threading.Barrier(len(callables)), [], []

    def run(call):
        from django.db import connections

        try:
            barrier.wait()
            results.append(call())
        except Exception as exc:  # re-raised below, in the test's own thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in callables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
