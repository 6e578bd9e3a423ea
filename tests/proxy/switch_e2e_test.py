# SPDX-License-Identifier: Apache-2.0
"""Atomic symlink switch under load: hosts/app.example.test is a relative
symlink to app-v1 and is re-pointed to app-v2 (a new symlink renamed over
the name) while clients connect sequentially and concurrently. No
connection fails, each reaches v1 or v2, and every connection that starts
after the rename reaches v2."""

import os
import threading
import time
import unittest

import harness as h

APP = "app.example.test"


class SwitchTest(unittest.TestCase):

  def test_switch_during_load(self):
    ws = h.Workspace()
    try:
      for v in ("v1", "v2"):
        h.Backend(ws, os.path.join(ws.host_dir(f"app-{v}"), "tls-socket"),
                  h.Backend.greet(v))
      os.symlink("app-v1", ws.path(APP))
      sp = h.Sallyport(ws, "tls")
      hello = h.client_hello(APP)
      switched_at = [None]  # monotonic time the rename returned
      results = []          # (started, answer or exception text)
      lock = threading.Lock()

      def one():
        t = time.monotonic()
        try:
          answer = h.exchange(sp.port, hello).decode("latin-1")
        except OSError as e:
          answer = f"error: {e}"
        with lock:
          results.append((t, answer))

      def switch():
        tmp = ws.path("app.tmp")
        os.symlink("app-v2", tmp)
        os.rename(tmp, ws.path(APP))
        switched_at[0] = time.monotonic()

      stop = threading.Event()

      def background():
        while not stop.is_set():
          one()

      workers = [threading.Thread(target=background) for _ in range(4)]
      for w in workers:
        w.start()
      try:
        for i in range(300):
          if i == 100:
            switch()
          one()
      finally:
        stop.set()
        for w in workers:
          w.join(h.TIMEOUT)

      self.assertGreaterEqual(len(results), 300)
      bad = [a for _, a in results if a not in ("v1\n", "v2\n")]
      odd = [r for r in sp.records if r.get("event") not in ("started", "connection") or
             r.get("outcome", "relayed") != "relayed"]
      self.assertEqual(bad, [], f"{len(bad)} of {len(results)} connections failed; "
                       f"log: {odd[:5]}")
      before = [a for t, a in results if t < switched_at[0]]
      after = [a for t, a in results if t >= switched_at[0]]
      self.assertIn("v1\n", before)  # the load really straddled the switch
      self.assertGreaterEqual(len(after), 200)
      self.assertEqual(set(after), {"v2\n"})
      # every connection was logged as relayed
      sp.wait_event("connection", len(results), outcome="relayed", host=APP)
      self.assertEqual(sp.events("connection", outcome="relayed", host=APP).__len__(),
                       len(results))
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


if __name__ == "__main__":
  unittest.main()
