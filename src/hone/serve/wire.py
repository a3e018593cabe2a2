"""The messages between the HTTP process and the model worker, over one duplex pipe.

Every message is a tuple `(kind, request id, payload)`, sent whole with `multiprocessing.connection`
(both ends are hone's own processes, started together; nothing else writes to the pipe).

HTTP process -> worker:
- `RUN`    (op, body): run operation `op` (`hone.serve.ops.OPS`) on `body`, a parsed request model.
- `CANCEL` None: the client went away; stop the request's work, send nothing more for it.
- `STOP`   None: finish (the HTTP process has drained).

worker -> HTTP process:
- `STATUS` dict (id 0): loaded, failure, the served models (`/v1/models` cards), engines, runtime adapters.
- `RESULT` dict: the JSON body of a 200 answer; the request is over.
- `ERROR`  (status, body, headers): an OpenAI-style error answer; the request is over.
- `CHUNK`  dict: one chunk of a streamed answer; more follow.
- `END`    None: the stream is over.
"""

from __future__ import annotations

RUN, CANCEL, STOP = "run", "cancel", "stop"
STATUS, RESULT, ERROR, CHUNK, END = "status", "result", "error", "chunk", "end"
FINAL = frozenset({RESULT, ERROR, END})  # the last message of a request
