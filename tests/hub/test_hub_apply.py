"""angofs-hub fault flag "apply": true — the write is applied, then the injected
status is answered, so a blind resend leaves a duplicate in the data (issue
10: /attachments is not idempotent). Same in both profiles."""
import pytest

from conftest import Hub
from hubutil import all_tasks, main_project


@pytest.fixture(params=["lenient", "strict"])
def phub(request, workdir):
    h = Hub(workdir, extra_args=["--profile", request.param])
    yield h
    h.stop()


def attachments_of(hub, pid, ext):
    st, body = hub.api("GET", "/project/%s/assets" % pid,
                       query={"filters": '{"externalId": "%s"}' % ext})
    assert st == 200, body
    return [a for asset in body["data"]["assets"] for a in asset["attachments"]]


def test_attachments_applied_then_failed_duplicate_on_resend(phub):
    hub = phub
    pid = main_project(hub)
    item = {"externalId": "street_0009.jpg",
            "attachments": [{"type": "TEXT", "value": "checked by QA"}]}
    assert attachments_of(hub, pid, "street_0009.jpg") == []
    hub.fault(route="POST /v2/attachments", status=502, apply=True, count=1,
              message="Bad gateway after commit")
    st, body = hub.api("POST", "/attachments", {"project": pid, "attachments": [item]})
    assert st == 502 and body["message"] == "Bad gateway after commit"
    # the hub applied it although the client saw a failure
    assert attachments_of(hub, pid, "street_0009.jpg") == [{"type": "TEXT",
                                                            "value": "checked by QA"}]
    # a blind resend duplicates it: what a client must avoid
    st, body = hub.api("POST", "/attachments", {"project": pid, "attachments": [item]})
    assert st == 200
    assert len(attachments_of(hub, pid, "street_0009.jpg")) == 2
    assert hub.stats()["counts"]["POST /v2/attachments"] == 2


def test_plain_status_fault_applies_nothing(phub):
    hub = phub
    pid = main_project(hub)
    hub.fault(route="POST /v2/attachments", status=500, count=1)
    item = {"externalId": "street_0012.jpg", "attachments": [{"type": "TEXT", "value": "x"}]}
    st, _ = hub.api("POST", "/attachments", {"project": pid, "attachments": [item]})
    assert st == 500
    assert attachments_of(hub, pid, "street_0012.jpg") == []


def test_import_labels_and_annotate_applied_then_failed(phub):
    hub = phub
    pid = main_project(hub)
    hub.fault(route="POST /v2/import/labels", status=504, apply=True, count=1)
    item = {"externalId": "street_0013.jpg",
            "classifications": [{"schemaId": "cComm001", "answer": "applied anyway"}]}
    st, _ = hub.api("POST", "/import/labels", {"project": pid, "jsonContent": [item]})
    assert st == 504
    t = [x for x in all_tasks(hub, pid, includeAnswer="true")
         if x["externalId"] == "street_0013.jpg"][0]
    assert t["answer"]["classifications"][0]["answer"] == "applied anyway"
    hub.fault(route="POST /v2/annotate/{id}", status=503, apply=True, retry_after=2, count=1)
    st, hdrs, raw = hub.raw("POST", "/v2/annotate/" + t["_id"] + "?nextStage=true",
                            {"answer": {"objects": [], "classifications": [
                                {"schemaId": "cComm001", "answer": "second"}]}},
                            {"apikey": hub.key})
    assert st == 503 and hdrs["Retry-After"] == "2"
    st, body = hub.api("GET", "/task/" + t["_id"])
    task = body["data"]["task"]
    assert task["answer"]["classifications"][0]["answer"] == "second"
    assert task["stage"] != t["stage"]  # nextStage was applied too
    # the fault was used up: the next request is answered normally
    assert hub.api("GET", "/task/" + t["_id"])[0] == 200


@pytest.mark.parametrize("spec,word", [
    ({"route": "GET /v2/export", "status": 500, "apply": True}, "apply"),
    ({"route": "POST /v2/attachments", "latency_ms": 5, "apply": True}, "status"),
    ({"route": "POST /v2/attachments", "status": 500, "apply": "yes"}, "apply"),
])
def test_apply_spec_checked(workdir, spec, word):
    hub = Hub(workdir, seeds=())
    try:
        st, _, raw = hub.raw("POST", "/_admin/faults", spec)
        assert st == 400 and word.encode() in raw
        listed = hub.fault(route="POST /v2/annotate/{id}", status=500, apply=True)["faults"]
        assert listed[0]["apply"] is True
    finally:
        hub.stop()
