"""The store on both backends: revisions, the poll fast path, sweeps in chunks."""

import threading

from gridedge.catalog.store import Principal, open_store


def principal(i: int, token_sha256: str = "0" * 64) -> Principal:
    return Principal(
        id=f"D{i}",
        role="device",
        kind="meter",
        spec={"kind": "meter"},
        token_sha256=token_sha256,
        timeout_s=10.0,
        state="registered",
        state_since=0.0,
        last_seen=None,
        revision=1,
        settings="{}",
    )


def test_revisions_are_unique_across_concurrent_transactions(database_url):
    store = open_store(database_url)
    taken = []

    def take():
        for _ in range(20):
            with store.transaction() as tx:
                taken.append(tx.next_revision())

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1, 81))
    store.close()


def test_the_fast_path_needs_the_token_and_an_online_device(database_url):
    store = open_store(database_url)
    with store.transaction() as tx:
        tx.insert_principal(principal(1, token_sha256="a" * 64))
    assert store.poll("D1", "device", "a" * 64, now=5.0) is None  # not online yet
    assert store.mark_online("D1", now=5.0)
    assert not store.mark_online("D1", now=6.0)
    assert store.poll("D1", "device", "b" * 64, now=7.0) is None
    assert store.poll("D1", "service", "a" * 64, now=7.0) is None
    assert store.poll("D1", "device", "a" * 64, now=7.0) == (1, "{}")
    assert store.reader().principal("D1").last_seen == 7.0
    store.close()


def test_a_sweep_disconnects_each_silent_device_once(database_url):
    store = open_store(database_url)
    with store.transaction() as tx:
        for i in range(1200):
            tx.insert_principal(principal(i))
    for i in range(1200):
        store.mark_online(f"D{i}", now=100.0 if i % 3 else 200.0)
    swept = store.sweep(now=150.0)
    assert len(swept) == 800
    assert {last_seen for _, last_seen in swept} == {100.0}
    assert store.sweep(now=150.0) == []
    assert len(store.reader().principals("device", state="online")) == 400
    store.close()
