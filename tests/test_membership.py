"""Membership as a pure state machine: heartbeats, claims and clock ticks in, decisions out, no sockets.

``on_heartbeat`` is an answer on a connection the node opened itself (believed); ``on_claim`` is a heartbeat on
its listening socket (anyone could have sent it: answered or refused, never believed)."""
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
    m.on_traffic(B, 4.0)                                  # a reply on our connection is a sign of life
    assert m.state_of(B) == ms.HEALTHY
    acts = m.tick(10.5)
    assert kinds(acts, ms.Lost) == [ms.Lost(B, "no heartbeat for 6.5 s")]
    assert m.members == (A,)                              # before the lock a dead peer leaves the set
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=11.0)
    assert m.members == (A, B) and m.state_of(B) == ms.HEALTHY


def test_dead_member_after_lock_makes_cloud_unhealthy_and_is_refused_when_it_speaks_again():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    m.lock("first write")
    acts = m.tick(7.0)
    assert kinds(acts, ms.Lost) and m.members == (A, B) and m.state_of(B) == ms.DEAD and not m.healthy
    # a dead member that answers again is refused for good: its claims get a fatal refusal
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=8.0)
    assert m.state_of(B) == ms.DEAD and B not in m.ping_targets()
    (refuse,) = kinds(m.on_claim(B, "cloud", hb(m, members=[B]), now=8.5), ms.Refuse)
    assert refuse.fatal and "cloud is locked" in refuse.reason


def test_newcomer_after_lock_is_refused_fatally():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    assert kinds(m.lock("first write"), ms.Locked)
    acts = m.on_claim(C, "cloud", hb(m, members=[C]), now=1.0)
    (refuse,) = kinds(acts, ms.Refuse)
    assert refuse.node == C and refuse.fatal and "cloud is locked" in refuse.reason
    assert m.members == (A, B) and C not in m.peers         # a stranger's claim leaves nothing behind


def test_restarted_member_after_lock_is_dead_and_refused():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, boot=1, members=[A, B]), now=0.0)
    m.lock("job")
    acts = m.on_heartbeat(B, "cloud", hb(m, boot=2, members=[B]), now=1.0)    # its address answers: new boot
    assert kinds(acts, ms.Lost) and m.state_of(B) == ms.DEAD and not m.healthy
    assert kinds(m.on_claim(B, "cloud", hb(m, boot=2, members=[B]), now=1.5), ms.Refuse)[0].fatal


def test_other_cloud_name_and_version_are_refused_and_never_join():
    m = new()
    acts = m.on_claim(B, "other", hb(m, members=[B]), now=0.0)
    (r,) = kinds(acts, ms.Refuse)
    assert not r.fatal and "cloud name mismatch" in r.reason and "'other'" in r.reason
    assert kinds(acts, ms.Log)                                               # logged once...
    assert not kinds(m.on_claim(B, "other", hb(m, members=[B]), now=1.0), ms.Log)    # ...not at every beat
    acts = m.on_claim(C, "cloud", hb(m, members=[C], pkg="9.9"), now=0.0)
    assert "version mismatch" in kinds(acts, ms.Refuse)[0].reason
    m.on_heartbeat(D, "other", hb(m, members=[D]), now=0.0)                 # a flatfile node of another name
    assert m.members == (A,) and D not in m.ping_targets()


def test_lock_spreads_from_a_locked_peer_with_the_same_set():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    assert m.formed and not m.locked
    acts = m.on_heartbeat(B, "cloud", hb(m, members=[A, B], locked=True), now=1.0)
    assert m.locked and kinds(acts, ms.Locked)


def test_goodbye_is_checked_by_pinging_and_marks_dead_only_without_an_answer():
    m = new(probe_after=1.0)
    m.on_heartbeat(B, "cloud", hb(m, boot=5, members=[A, B]), now=0.0)
    assert m.on_bye(B, boot=4, now=0.1) == []             # a goodbye of an older incarnation is ignored
    assert m.on_bye(B, boot=5, now=0.1) == [ms.Ping(B)]
    assert not kinds(m.tick(0.9), ms.Lost)
    acts = m.tick(1.2)
    assert kinds(acts, ms.Lost) and m.members == (A,)
    # a forged goodbye: the peer answers the ping, so it stays
    m.on_heartbeat(C, "cloud", hb(m, boot=7, members=[A, C]), now=2.0)
    m.on_bye(C, boot=7, now=2.1)
    acts = m.on_heartbeat(C, "cloud", hb(m, boot=7, members=[A, C]), now=2.2)
    assert kinds(acts, ms.Log) and m.conflicts == 1
    assert not kinds(m.tick(3.5), ms.Lost) and m.state_of(C) == ms.HEALTHY


def test_clients_are_not_members():
    m = new()
    m.on_heartbeat(D, "cloud", hb(m, members=[], client=True), now=0.0)
    assert m.on_claim(D, "cloud", hb(m, members=[], client=True), now=0.0) == []
    assert m.members == (A,)


def test_claims_never_add_a_member_or_keep_one_alive():
    m = new(size=1, max_candidates=3)
    acts = m.on_claim(B, "cloud", hb(m, members=[A, B]), now=0.0)
    assert ms.Connect(B) in acts and ms.Answer(B) in acts          # checked by pinging its address, answered
    assert m.members == (A,) and m.state_of(B) is None
    m.on_claim(B, "cloud", hb(m, members=[A, B], locked=True), now=0.5)
    assert not m.locked                                             # a claim cannot lock us either
    assert kinds(m.tick(6.5), ms.Disconnect) == [ms.Disconnect(B)]  # never answered: forgotten
    assert B not in m.peers
    # a confirmed member that stops answering dies on time, whatever is claimed in its name
    m.on_heartbeat(C, "cloud", hb(m, boot=3, members=[A, C]), now=10.0)
    for t in range(11, 17):
        m.on_claim(C, "cloud", hb(m, boot=3, members=[A, C]), now=float(t))
    assert kinds(m.tick(16.5), ms.Lost) and m.state_of(C) == ms.DEAD


def test_a_claim_of_a_restart_is_a_conflict_not_obeyed():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, boot=1, members=[A, B]), now=0.0)
    m.lock("first write")
    acts = m.on_claim(B, "cloud", hb(m, boot=99, members=[B]), now=1.0)
    assert not kinds(acts, ms.Refuse) and not kinds(acts, ms.Answer)
    assert "conflicts" in kinds(acts, ms.Log)[0].text and m.conflicts == 1
    assert m.state_of(B) == ms.HEALTHY and m.healthy and B in m.ping_targets()


def test_candidates_are_bounded():
    m = new(max_candidates=2)
    m.on_claim(B, "cloud", hb(m), now=0.0)
    m.on_claim(C, "cloud", hb(m), now=0.0)
    acts = m.on_claim(D, "cloud", hb(m), now=0.0)
    assert not kinds(acts, ms.Connect) and D not in m.peers and kinds(acts, ms.Log)[0].kind == "candidates"


def test_refusals_answering_our_heartbeats():
    m = new()
    # fatal from a node of our name while we are not locked: stop
    acts = m.on_refused(B, "cloud", "cloud is locked: no newcomers", True, now=0.0)
    assert kinds(acts, ms.Stop)
    # from another cloud, or once we are locked: never fatal, the peer is no longer talked to
    m2 = new()
    assert not kinds(m2.on_refused(C, "other", "cloud name mismatch", True, now=0.0), ms.Stop)
    assert C not in m2.ping_targets()
    m3 = new()
    m3.on_heartbeat(B, "cloud", hb(m3, members=[A, B]), now=0.0)
    m3.lock("job")
    assert not kinds(m3.on_refused(B, "cloud", "whatever", True, now=1.0), ms.Stop)
