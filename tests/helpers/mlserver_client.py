"""A client of MLServer's alibi-explain runtime, written with MLServer's own code; run with
the Python of ``.venv-mlserver``:

    .venv-mlserver/bin/python -m tests.helpers.mlserver_client URL RECORDS EXPLAIN_PARAMETERS

It encodes the records (a JSON list of ``{feature: value}``) with MLServer's pandas codec,
adds ``parameters.explain_parameters``, posts the request to ``URL`` (an explainer's
``/v2/models/{name}/infer``), reads the answer as an ``InferenceResponse`` and decodes its
``explanation`` output with MLServer's string codec, as MLServer's documentation shows.
Prints ``{"headers": {...}, "explanation": <the explanation's JSON text>}``; an answer
that is not MLServer's shape raises.
"""

from __future__ import annotations

import json
import sys
import urllib.request

import pandas as pd
from mlserver.codecs import PandasCodec, StringCodec
from mlserver.types import InferenceResponse, Parameters


def main(url: str, records: str, explain_parameters: str) -> None:
    frame = pd.DataFrame(json.loads(records))
    # pandas 3 gives text columns a "str" dtype that MLServer 1.6.1's codec does not know
    frame = frame.astype({c: object for c in frame.select_dtypes(exclude="number").columns})
    request = PandasCodec.encode_request(frame)
    request.parameters = Parameters(
        content_type="pd", explain_parameters=json.loads(explain_parameters)
    )
    http = urllib.request.Request(
        url,
        data=request.model_dump_json().encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(http, timeout=600) as answer:
        body, headers = answer.read(), dict(answer.headers)
    response = InferenceResponse.model_validate_json(body)
    (output,) = response.outputs
    assert output.name == "explanation" and output.parameters.content_type == "str", output
    (explanation,) = StringCodec.decode_output(output)
    print(json.dumps({"headers": headers, "explanation": explanation}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
