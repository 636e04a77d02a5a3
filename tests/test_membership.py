"""Membership as a pure state machine: heartbeats, claims and clock ticks in, decisions out, no sockets.

``on_heartbeat`` is an answer on a connection the node opened itself (believed); ``on_claim`` is a heartbeat on
its listening socket (anyone could have sent it: answered or refused, never believed)."""
from cluster import membership as ms

A, B, C, D = "10.0.0.1:54321", "10.0.0.2:54321", "10.0.0.3:54321", "10.0.0.4:54321"


def hb(m: ms.Membership, boot=1, *, members=None, locked=False, pkg="1.0", client=False, epoch=0, dead=(),
       back=(), repl=1):
    members = members if members is not None else []
    return {"boot": boot, "pid": 1, "cores": 2, "free_mem": 1, "keys": 0, "pkg": pkg, "members": members,
            "hash": ms.member_hash(members), "locked": locked, "formed": False, "client": client, "epoch": epoch,
            "dead": list(dead), "back": list(back), "repl": repl}


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


def test_news_before_the_lock_is_checked_at_once_and_a_new_proposal_told_to_the_members():
    """The cloud forms in round trips: a claim of an unconfirmed peer, or of a member set other than its last
    answer's, is pinged at once (not at the next heartbeat; at most one ping a quarter probe interval), and a
    new proposal is sent to the members. Nothing of a claim is believed, and after the lock none of it applies."""
    m = new(size=3, probe_after=1.0)
    acts = m.on_claim(B, "cloud", hb(m, members=[B]), now=0.0)
    assert acts == [ms.Connect(B), ms.Answer(B), ms.Ping(B)] and m.members == (A,)
    assert m.on_claim(B, "cloud", hb(m, members=[B]), now=0.1) == [ms.Answer(B)]      # rate-limited
    acts = m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.2)
    assert m.members == (A, B) and ms.Ping(B) in acts                   # our new proposal, told at once
    assert m.on_claim(B, "cloud", hb(m, members=[A, B]), now=0.5) == [ms.Answer(B)]   # nothing new
    acts = m.on_claim(B, "cloud", hb(m, members=[A, B, C]), now=0.6)
    assert acts == [ms.Answer(B), ms.Ping(B)] and m.peers[B].info["hash"] == ms.member_hash([A, B])
    m.on_heartbeat(C, "cloud", hb(m, members=[A, B, C]), now=0.7)
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B, C]), now=0.8)
    assert m.formed
    m.lock("test")
    assert m.on_claim(B, "cloud", hb(m, members=[A, B, C, D]), now=5.0) == [ms.Answer(B)]


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


def test_two_node_cloud_goes_on_with_the_smaller_half_and_tells_the_other_it_was_removed():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    m.lock("first write")
    acts = m.tick(7.0)                  # B is dead; A holds half of {A, B} and the smallest id: a quorum
    assert kinds(acts, ms.Lost) and m.members == (A,) and m.epoch == 1 and m.healthy and m.has_quorum(7.0)
    assert kinds(acts, ms.MembersChanged) == [ms.MembersChanged((A,), 1)]
    # the same process answering again is not re-admitted; its claims are answered, so it learns it was removed
    assert m.on_heartbeat(B, "cloud", hb(m, members=[A, B], locked=True), now=8.0) == []
    assert m.members == (A,) and kinds(m.on_claim(B, "cloud", hb(m, members=[A, B]), now=8.5), ms.Answer)
    b = new(B)
    b.on_heartbeat(A, "cloud", hb(b, members=[A, B]), now=0.0)
    b.lock("first write")
    assert not b.has_quorum(7.5) or True
    acts = b.on_heartbeat(A, "cloud", hb(b, members=[A], locked=True, epoch=1), now=8.6)
    (stop,) = kinds(acts, ms.Stop)
    assert stop.removed and "removed from cloud" in stop.reason


def test_newcomer_after_lock_is_refused_fatally():
    m = new()
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    assert kinds(m.lock("first write"), ms.Locked)
    acts = m.on_claim(C, "cloud", hb(m, members=[C]), now=1.0)
    (refuse,) = kinds(acts, ms.Refuse)
    assert refuse.node == C and refuse.fatal and "cloud is locked" in refuse.reason
    assert m.members == (A, B) and C not in m.peers         # a stranger's claim leaves nothing behind


def locked3(self_id=A):
    m = new(self_id, size=3)
    for n in (A, B, C):
        if n != self_id:
            m.on_heartbeat(n, "cloud", hb(m, members=[A, B, C]), now=0.0)
    m.lock("first write")
    return m


def test_a_dead_member_is_removed_when_a_majority_agrees_and_the_others_adopt_the_set():
    a, b = locked3(A), locked3(B)
    b.on_heartbeat(A, "cloud", hb(b, members=[A, B, C], locked=True), now=6.5)
    a.on_heartbeat(B, "cloud", hb(a, members=[A, B, C], locked=True), now=6.5)
    acts = a.tick(6.9)                                      # A, the coordinator, sees C dead: one vote of 3
    assert kinds(acts, ms.Lost) and a.members == (A, B, C) and not a.healthy and a.has_quorum(6.9)
    acts = a.on_heartbeat(B, "cloud", hb(a, members=[A, B, C], locked=True, dead=[C]), now=7.0)
    assert a.members == (A, B) and a.epoch == 1 and a.healthy and a.removed == {C: 1}
    assert kinds(acts, ms.MembersChanged) == [ms.MembersChanged((A, B), 1)]
    b.tick(7.0)
    assert b.members == (A, B, C)                           # B is not the coordinator: it waits for A's word
    acts = b.on_heartbeat(A, "cloud", hb(b, members=[A, B], locked=True, epoch=1), now=7.2)
    assert b.members == (A, B) and b.epoch == 1 and kinds(acts, ms.MembersChanged)
    # the removed process speaks again: its answers are ignored, its claims answered (it stops on reading them)
    assert a.on_heartbeat(C, "cloud", hb(a, boot=1, members=[A, B, C], locked=True), now=9.0) == []
    assert kinds(a.on_claim(C, "cloud", hb(a, boot=1, members=[A, B, C]), now=9.0), ms.Answer)
    c = locked3(C)
    (stop,) = kinds(c.on_heartbeat(A, "cloud", hb(c, members=[A, B], locked=True, epoch=1), now=9.1), ms.Stop)
    assert stop.removed


def test_the_minority_never_changes_the_set_and_has_no_quorum():
    a = locked3(A)
    a.tick(7.0)                                             # B and C silent: dead, but 1 of 3 is no quorum
    assert a.members == (A, B, C) and not a.has_quorum(7.0)
    assert a.live_members() == [A]


def test_a_restarted_member_stays_an_empty_member_and_a_removed_one_rejoins_with_a_majority():
    a = locked3(A)
    acts = a.on_heartbeat(B, "cloud", hb(a, boot=2, members=[B]), now=1.0)    # its address answers: new boot
    assert kinds(acts, ms.Lost) and kinds(acts, ms.Restarted) == [ms.Restarted(B)]
    assert a.members == (A, B, C) and a.state_of(B) == ms.HEALTHY and a.peer(B).boot == 2
    # C dies and is removed; a new process at C's address answers: a vote to re-admit it
    a.on_heartbeat(B, "cloud", hb(a, boot=2, members=[A, B, C], locked=True), now=6.5)
    a.tick(7.5)
    a.on_heartbeat(B, "cloud", hb(a, boot=2, members=[A, B, C], locked=True, dead=[C]), now=7.6)
    assert a.members == (A, B) and a.epoch == 1
    b = locked3(B)                                          # B is no coordinator: it only votes
    b._set_members((A, B), 1, "test", 7.6)
    b.on_heartbeat(C, "cloud", hb(b, boot=9, members=[C]), now=8.0)
    assert b.members == (A, B) and b.back == {C} and b.heartbeat_fields()["back"] == [C]
    acts = a.on_heartbeat(C, "cloud", hb(a, boot=9, members=[C]), now=8.0)   # A: half of {A, B}, the smaller
    assert a.members == (A, B, C) and a.epoch == 2 and kinds(acts, ms.MembersChanged) and not a.back
    # the new process, not locked yet, takes the locked set that counts it in
    c = new(C, size=3)
    acts = c.on_heartbeat(A, "cloud", hb(c, members=[A, B, C], locked=True, epoch=2), now=0.0)
    assert c.locked and c.members == (A, B, C) and c.epoch == 2 and c.formed


def test_two_sets_of_one_epoch_resolve_to_the_lower_hash():
    a = locked3(A)
    mine, theirs = (A, B), (A, C)
    a._set_members(mine, 4, "test", 1.0)
    a.on_heartbeat(C, "cloud", hb(a, members=list(theirs), locked=True, epoch=4), now=1.5)
    want = min((mine, theirs), key=ms.member_hash)
    assert a.members == want


def test_another_replication_factor_is_refused():
    m = new()
    acts = m.on_heartbeat(B, "cloud", hb(m, members=[B], repl=2), now=0.0)
    assert "replication mismatch" in kinds(acts, ms.Log)[0].text and m.members == (A,)


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


# ---------------------------------------------------------------- operator sweep: refusals, formation, settings
def test_a_refusal_holds_for_the_process_refused_not_for_a_new_one_at_its_address():
    """Sweep section 2: a node started with a wrong --replication (or --name) and restarted right at the same
    address was refused for ever with the first process's reason."""
    m = new(size=2)
    acts = m.on_heartbeat(B, "cloud", hb(m, boot=1, members=[B], repl=2), now=0.0)
    assert "replication mismatch" in kinds(acts, ms.Log)[0].text and B not in m.ping_targets()
    # the refused process itself: its answers change nothing, its claims get the refusal, nothing is re-logged
    assert m.on_heartbeat(B, "cloud", hb(m, boot=1, members=[B], repl=2), now=0.5) == []
    (refuse,) = kinds(m.on_claim(B, "cloud", hb(m, boot=1, members=[B], repl=2), now=0.6), ms.Refuse)
    assert "replication mismatch" in refuse.reason
    # a new process claims: answered and checked by pinging its address (once per probe interval), not refused;
    # the claim alone changes nothing (anyone could have sent it)
    acts = m.on_claim(B, "cloud", hb(m, boot=2, members=[B]), now=1.0)
    assert ms.Answer(B) in acts and ms.Ping(B) in acts and not kinds(acts, ms.Refuse)
    assert ms.Ping(B) not in m.on_claim(B, "cloud", hb(m, boot=3, members=[B]), now=1.1)
    assert m.members == (A,) and m.peer(B).refused
    # its own answer (on our connection) is judged afresh: right settings, so it joins
    acts = m.on_heartbeat(B, "cloud", hb(m, boot=2, members=[A, B]), now=1.5)
    assert any("no longer holds" in a.text for a in kinds(acts, ms.Log))
    assert m.members == (A, B) and m.formed and B in m.ping_targets() and m.peer(B).refused is None
    # a new process with a wrong setting again is refused again, with its own reason
    m2 = new(size=2)
    m2.on_heartbeat(B, "cloud", hb(m2, boot=1, members=[B], repl=2), now=0.0)
    acts = m2.on_heartbeat(B, "cloud", hb(m2, boot=2, members=[B], repl=3), now=1.0)
    assert "node 10.0.0.2:54321 3" in kinds(acts, ms.Log)[0].text and m2.members == (A,)


def test_a_node_that_refused_us_is_heard_again_when_its_address_answers():
    """It refused this node (another cloud name); a process answering at its address with a heartbeat does not
    refuse (a refusal and an answer never come from one process for one node): the refusal is dropped."""
    m = new(size=2, pinned=[B])
    m.on_refused(B, "root", "cloud name mismatch: this is cloud 'root', node A belongs to cloud 'cloud'", False,
                 now=0.0)
    assert m.peer(B).refused and B in m.ping_targets()              # a flatfile node is still pinged
    acts = m.on_claim(B, "cloud", hb(m, boot=7, members=[B]), now=1.0)
    assert not kinds(acts, ms.Refuse) and ms.Answer(B) in acts      # the stale reason is not sent to it
    m.on_heartbeat(B, "cloud", hb(m, boot=7, members=[A, B]), now=1.2)
    assert m.members == (A, B) and m.formed


def test_a_removed_member_restarted_with_its_settings_fixed_rejoins():
    a = locked3(A)
    a.on_heartbeat(B, "cloud", hb(a, members=[A, B, C], locked=True), now=1.0)
    a.on_heartbeat(C, "cloud", hb(a, boot=2, members=[C], repl=2), now=1.0)     # C restarted with R=2: refused
    assert a.state_of(C) == ms.DEAD and a.peer(C).refused
    a.on_heartbeat(B, "cloud", hb(a, members=[A, B, C], locked=True, dead=[C]), now=1.5)
    assert a.members == (A, B) and C in a.removed
    # restarted again, right: its answer is judged afresh, as a removed member's new process (A, half of {A, B}
    # holding the smaller id, is a quorum on its own: it re-admits C at once)
    acts = a.on_heartbeat(C, "cloud", hb(a, boot=3, members=[C]), now=2.0)
    assert a.peer(C).refused is None and a.members == (A, B, C) and kinds(acts, ms.MembersChanged)


def test_a_forged_claim_of_a_new_process_adds_nothing_and_the_refused_process_stays_refused():
    m = new(size=2)
    m.on_heartbeat(B, "cloud", hb(m, boot=1, members=[B], repl=2), now=0.0)
    for t in range(10):                                 # claims of ever new boots: at most a ping a second
        acts = m.on_claim(B, "cloud", hb(m, boot=100 + t, members=[A, B]), now=1.0 + t / 10)
        assert not kinds(acts, ms.Log) and not kinds(acts, ms.Connect)
    assert m.members == (A,) and m.peer(B).refused
    # the process that answers at B's address is still the refused one: nothing changes, nothing is logged
    assert m.on_heartbeat(B, "cloud", hb(m, boot=1, members=[B], repl=2), now=2.5) == []
    assert m.members == (A,) and m.peer(B).refused


def test_members_named_in_a_believed_answer_become_candidates_before_the_lock():
    """Sweep section 8 (c): B and C list only A. A's answers name all three; B pings C and C answers B: one
    cloud. A name in a list is only pinged: it becomes a member when it answers on our own connection."""
    b = new(B, size=3, pinned=[A])
    acts = b.on_heartbeat(A, "cloud", hb(b, members=[A, B, C, "not-a-node", B]), now=0.0)
    assert ms.Connect(C) in acts and C in b.ping_targets() and b.members == (A, B)
    assert "not-a-node" not in b.peers and b.state_of(C) is None
    b.on_heartbeat(C, "cloud", hb(b, members=[A, B, C]), now=0.5)
    b.on_heartbeat(A, "cloud", hb(b, members=[A, B, C]), now=0.6)
    assert b.members == (A, B, C) and b.formed
    # bounded like claimed candidates; after the lock, lists come from the locked set only
    few = new(B, size=3, max_candidates=1)
    few.on_heartbeat(A, "cloud", hb(few, members=[A, B, C, D]), now=0.0)
    assert sum(not p.confirmed for p in few.peers.values()) == 1
    locked = new(B)
    locked.on_heartbeat(A, "cloud", hb(locked, members=[A, B]), now=0.0)
    locked.lock("job")
    assert not kinds(locked.on_heartbeat(A, "cloud", hb(locked, members=[A, B, C]), now=1.0), ms.Connect)
    assert C not in locked.peers


def test_formation_report_names_silent_flatfile_entries_and_refused_peers():
    m = new(size=3, pinned=[A, B, C, D])
    m.on_heartbeat(B, "cloud", hb(m, members=[A, B]), now=0.0)
    m.on_heartbeat(D, "cloud", hb(m, members=[D], repl=2), now=0.0)
    r = m.formation_report()
    assert r["silent"] == [C] and list(r["refused"]) == [D] and r["members"] == [A, B] and r["cloud_size"] == 3
    assert r["disagree"] == [] and not m.formed
    m.on_heartbeat(C, "cloud", hb(m, members=[A, C]), now=0.1)
    r = m.formation_report()
    assert r["silent"] == [] and r["disagree"] == [B, C]


def test_other_failure_detector_settings_are_warned_about_once_per_peer():
    """Sweep section 11: one node with --dead-after 60 among 6 s nodes made failover wait 53 s, silently."""
    m = new()
    assert m.heartbeat_fields()["dead_after"] == 6.0 and m.heartbeat_fields()["suspect_after"] == 3.0
    def warned(actions):
        return [a for a in kinds(actions, ms.Log) if "other settings" in a.text]

    same = {"hb_interval": 1.0, "suspect_after": 3.0, "dead_after": 6.0}
    assert not warned(m.on_heartbeat(B, "cloud", {**hb(m, members=[A, B]), **same}, now=0.0))
    slow = {"hb_interval": 1, "suspect_after": 30.0, "dead_after": 60.0}
    acts = m.on_heartbeat(C, "cloud", {**hb(m, members=[A, C]), **slow}, now=0.0)
    (warn,) = warned(acts)
    assert warn.level == "warning" and C in warn.text
    assert "--heartbeat-interval 1, --suspect-after 30, --dead-after 60" in warn.text
    assert "--heartbeat-interval 1, --suspect-after 3, --dead-after 6" in warn.text
    for t in range(1, 5):
        assert not warned(m.on_heartbeat(C, "cloud", {**hb(m, members=[A, B, C]), **slow}, now=t))
    # a heartbeat without them (an older node of this version) is believed as before
    assert not warned(m.on_heartbeat(D, "cloud", hb(m, members=[A, D]), now=0.0))
    assert m.members == (A, B, C, D)
