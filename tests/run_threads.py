"""Run test work in several threads released at once, for the thread-safety tests."""

import threading


def run_threads(n, work):
    """Run ``work(k)`` for ``k`` in ``range(n)``, each in its own thread, all released at once by a
    barrier. Returns the results in order of ``k``; an exception in any thread fails the test."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(k):
        try:
            barrier.wait()
            results[k] = work(k)
        except Exception as exc:  # pragma: no cover - reported by the assertion
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results
