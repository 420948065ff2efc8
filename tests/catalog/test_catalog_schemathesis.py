"""Property-based tests of the whole REST interface, generated from its OpenAPI document.

Every operation gets valid and invalid requests (bodies, paths, queries, headers) with the
administrator's token; every built-in check runs on every response: no server error; status
code, media type, headers and body as documented; invalid data rejected; valid data accepted;
and the same request without credentials or with wrong ones refused.
"""

from collections import Counter

import hypothesis
import schemathesis
from schemathesis import GenerationMode

from gridedge.catalog import openapi
from tests.catalog.conftest import ADMIN_TOKEN

# Examples per operation and generation mode: about 1,200 cases on SQLite, and a
# third of that on PostgreSQL, which runs the same code with another store underneath.
EXAMPLES = 35
MINIMUM_CASES = {"sqlite": 1000, "postgresql": 300}

CONFIG = schemathesis.Config.from_dict(
    {
        # Undeclared headers are not invalid requests: proxies and clients add their own, and
        # HTTP asks servers to ignore the ones they do not know. (Unknown query parameters are
        # refused, which test_catalog_app checks.)
        "generation": {"allow-extra-parameters": False},
        "checks": {
            # Valid documents can still be refused by the state of the store: a package not
            # uploaded (409), a stale topology revision (412), a grid that does not hold
            # together or a package that fails verification (422).
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "304", "401", "403", "404", "409", "412", "422"]
            }
        },
    }
)
AUTHORIZATION = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_every_operation_holds_to_its_document(app, config):
    store = "sqlite" if config.database.startswith("sqlite") else "postgresql"
    examples = EXAMPLES if store == "sqlite" else max(1, EXAMPLES // 3)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)
    cases: Counter[str] = Counter()
    unsatisfiable = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.given(case=operation.as_strategy(mode))
            @hypothesis.settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                derandomize=True,
                database=None,
            )
            def holds(case):
                case.call_and_validate(headers=AUTHORIZATION)
                cases[case.operation.label] += 1

            try:
                holds()
            except hypothesis.errors.Unsatisfiable:
                # Nothing to make invalid: the operation has no parameters and no body.
                assert mode is GenerationMode.NEGATIVE, operation.label
                unsatisfiable.append(operation.label)
    total = sum(cases.values())
    print(f"schemathesis on {store}: {total} cases over {len(operations)} operations")
    documented = {
        f"{method.upper()} {path}"
        for path, item in openapi.document()["paths"].items()
        for method in item
        if method in ("get", "put", "post")
    }
    # Schemathesis leaves out the operation serving the document itself.
    assert {o.label for o in operations} == documented - {"GET /openapi.json"}
    assert set(unsatisfiable) <= {"GET /healthz", "GET /openapi.json"}
    assert total >= MINIMUM_CASES[store]
