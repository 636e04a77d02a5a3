"""Membership as a pure state machine: heartbeats and clock ticks in, decisions out, no sockets."""
from cluster import membership as ms

A, B, C, D = "10.0.0.1:54321", "10.0.0.2:54321", "10.0.0.3:54321", "10.0.0.4:54321"


def hb(m: ms.Membership, boot=1, *, members=None, locked=False, pkg="1.0", client=False):
    members = members if members is not None else []
    return {"boot": boot, "pid": 1, "cores": 2, "free_mem": 1, "keys": 0, "pkg": pkg, "members": members,
            "hash": ms.member_hash(members), "locked": locked, "formed": False, "client": client}


def new(self_id=A, size=1, **kw):
    return ms.Membership(self_id, "cloud", "1.0", cloud_size=size, suspect_after=3.0, dead_after=6.0, **kw)


def kinds(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def test_single_node_forms_at_once():
    m = new()
    acts = m.initial_actions()
    assert m.formed and kinds(acts, ms.Formed) == [ms.Formed((A,))]
    assert any("cloud formed" in a.text for a in kinds(acts, ms.Log))


def test_three_nodes_form_when_hashes_agree():
    m = new(size=3)
    assert not m.formed
    acts = m.on_heartbeat(B, "cloud", hb(m, members=[B]), now=0.0)
    assert ms.Connect(B) in acts and not m.formed
    m.on_heartbeat(C, "cloud", hb(m, members=[C]), now=0.1)
    assert m.members == (A, B, C) and not m.formed          # peers have not agreed yet
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B, C]), now=0.5)
    assert not m.formed
    acts = m.on_heartbeat(C, "cloud", hb(m, members=[A, B, C]), now=0.6)
    assert m.formed and kinds(acts, ms.Formed) == [ms.Formed((A, B, C))]
    # announced once only
    assert not kinds(m.on_heartbeat(C, "cloud", hb(m, members=[A, B, C]), now=0.7), ms.Formed)


def test_cloud_size_holds_back_formation():
    m = new(size=3)
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0)
    assert m.members == (A, B) and not m.formed


def test_suspect_then_dead_then_back_before_lock():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    assert m.formed and m.members == (A, B)
    assert m.tick(2.9) == [] and m.state_of(B) == ms.HEALTHY
    acts = m.tick(3.5)
    assert m.state_of(B) == ms.SUSPECT and not m.healthy and kinds(acts, ms.Log)
    m.on_traffic(B, 4.0)                                  # any message is a sign of life
    assert m.state_of(B) == ms.HEALTHY
    acts = m.tick(10.5)
    assert kinds(acts, ms.Lost) == [ms.Lost(B, "no heartbeat for 6.5 s")]
    assert m.members == (A,)                              # before the lock a dead peer leaves the set
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=11.0)
    assert m.members == (A, B) and m.state_of(B) == ms.HEALTHY


def test_dead_member_after_lock_makes_cloud_unhealthy():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    m.lock("first write")
    acts = m.tick(7.0)
    assert kinds(acts, ms.Lost) and m.members == (A, B) and m.state_of(B) == ms.DEAD and not m.healthy
    # a dead member that speaks again is refused for good
    acts = m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=8.0)
    assert kinds(acts, ms.Refuse)[0].fatal


def test_newcomer_after_lock_is_refused_fatally():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    assert kinds(m.lock("first write"), ms.Locked)
    acts = m.on_heartbeat(C, "cloud", hb(m, members=[C]), now=1.0)
    (refuse,) = kinds(acts, ms.Refuse)
    assert refuse.node == C and refuse.fatal and "cloud is locked" in refuse.reason
    assert m.members == (A, B)


def test_restarted_member_after_lock_is_refused():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, boot=1, members=[A, B]), now=0.0)
    m.lock("job")
    acts = m.on_heartbeat(B, "cloud", hb(m, boot=2, members=[B]), now=1.0)
    assert kinds(acts, ms.Refuse)[0].fatal


def test_other_cloud_name_and_version_are_refused_once_and_never_join():
    m = new()
    acts = m.on_heartbeat(B, "other", hb(m, members=[B]), now=0.0)
    (r,) = kinds(acts, ms.Refuse)
    assert not r.fatal and "cloud name mismatch" in r.reason and "'other'" in r.reason
    assert m.on_heartbeat(B, "other", hb(m, members=[B]), now=1.0) == []
    acts = m.on_heartbeat(C, "cloud", hb(m, members=[C], pkg="9.9"), now=0.0)
    assert "version mismatch" in kinds(acts, ms.Refuse)[0].reason
    assert m.members == (A,)


def test_lock_spreads_from_a_locked_peer_with_the_same_set():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    assert m.formed and not m.locked
    acts = m.on_heartbeat(B, "cloud", hb(m, members=[A, B], locked=True), now=1.0)
    assert m.locked and kinds(acts, ms.Locked)


def test_goodbye_marks_dead_at_once():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, boot=5, members=[A, B]), now=0.0)
    assert m.on_bye(B, boot=4, now=0.1) == []             # a goodbye of an older incarnation is ignored
    acts = m.on_bye(B, boot=5, now=0.1)
    assert kinds(acts, ms.Lost) and m.members == (A,)


def test_clients_are_not_members():
    m = new()
    m.on_heartbeat(D, "cloud", hb(m, members=[], client=True), now=0.0)
    assert m.members == (A,)
