package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"casella/internal/blast"
	"casella/internal/blob/s3/s3test"
	"casella/internal/localcluster"
	"casella/internal/pgtest"
	"casella/internal/web"
)

// cluster is a test cluster: two cells, each on a PostgreSQL server and
// an S3 server of its own, the directory on cell b's PostgreSQL, and two
// nodes. Stopping cell a's servers touches nothing of cell b's.
type cluster struct {
	pg    map[string]*pgtest.Server // by cell
	s3    map[string]*s3test.Server // by cell
	nodes []*server
	// accounts are the test accounts by cell; the password of each is
	// its address.
	accounts map[string][]string
}

// startCluster starts the cluster with n accounts in each cell.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return startClusterThen(t, n, func(*cluster) {})
}

// startClusterThen is startCluster calling before once the accounts are
// made, before the nodes start.
func startClusterThen(t *testing.T, n int, before func(*cluster)) *cluster {
	t.Helper()
	c := &cluster{pg: map[string]*pgtest.Server{}, s3: map[string]*s3test.Server{}, accounts: map[string][]string{}}
	var conf strings.Builder
	for _, cell := range []string{"a", "b"} {
		c.pg[cell] = pgtest.Start(t, pgtest.Options{})
		c.s3[cell] = s3test.Start(t)
	}
	fmt.Fprintf(&conf, "\n[directory]\nstore = %q\n", c.pg["b"].CreateDB(t))
	for _, cell := range []string{"a", "b"} {
		s3 := c.s3[cell]
		conf.WriteString(localcluster.CellConfig(cell, c.pg[cell].CreateDB(t), s3.Endpoint(), s3.Bucket(t), s3.AccessKey, s3.SecretKey))
		conf.WriteString("timeout = \"5s\"\nmax_attempts = 1\n")
	}
	for range 2 {
		data, config := newData(t, conf.String())
		roomForLoad(t, config)
		c.nodes = append(c.nodes, &server{t: t, data: data, config: config})
	}
	first := c.nodes[0]
	first.casella("domain", "add", "example.test")
	for _, cell := range []string{"a", "b"} {
		for i := range n {
			addr := fmt.Sprintf("%s%d@example.test", cell, i)
			first.casella("account", "add", "--cell", cell, "--password", addr, addr)
			c.accounts[cell] = append(c.accounts[cell], addr)
		}
	}
	before(c)
	for i, s := range c.nodes {
		c.nodes[i] = startServer(t, s.data, s.config, "--allow-faults")
	}
	return c
}

// TestClusterCrossNodeIdle: a delivery through node 2 wakes an IMAP IDLE
// held on node 1, through PostgreSQL's LISTEN/NOTIFY: IDLE has no other
// way to learn of a change made by another process.
func TestClusterCrossNodeIdle(t *testing.T) {
	c := startCluster(t, 1)
	for _, cell := range []string{"a", "b"} {
		user := c.accounts[cell][0]
		exists := make(chan uint32, 16)
		cl, err := imapclient.DialInsecure(c.nodes[0].addr("imap"), &imapclient.Options{
			UnilateralDataHandler: &imapclient.UnilateralDataHandler{
				Mailbox: func(d *imapclient.UnilateralDataMailbox) {
					if d.NumMessages != nil {
						exists <- *d.NumMessages
					}
				},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Login(user, user).Wait(); err != nil {
			t.Fatalf("login %s on node 1: %v", user, err)
		}
		if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		idle, err := cl.Idle()
		if err != nil {
			t.Fatal(err)
		}
		sc, err := smtp.Dial(c.nodes[1].addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := blast.Send(sc, "idle@remote.test", []string{user}, testMessage("idle-"+cell, "idle@remote.test", user, "Wake up.")); err != nil {
			t.Fatalf("send through node 2: %v", err)
		}
		sc.Close()
		select {
		case n := <-exists:
			t.Logf("cell %s: IDLE on node 1 saw EXISTS %d %v after the 250 of node 2", cell, n, time.Since(start).Round(time.Millisecond))
		case <-time.After(30 * time.Second):
			t.Fatalf("cell %s: IDLE on node 1 saw nothing within 30s of a delivery through node 2\nnode 2:\n%s", cell, logTail(c.nodes[1], 30))
		}
		idle.Close()
		idle.Wait()
		cl.Close()
	}
}

// clusterLoad sends messages to the accounts of both cells in turn,
// through both nodes in turn, over conns connections, until stop is
// closed, and returns every result.
func clusterLoad(c *cluster, conns int, stop <-chan struct{}) []blast.Result {
	spec := blast.LoadSpec{From: "load@remote.test", Connections: conns}
	for _, node := range c.nodes {
		spec.SMTP = append(spec.SMTP, node.addr("smtp"))
	}
	for _, cell := range []string{"a", "b"} {
		spec.Rcpts = append(spec.Rcpts, c.accounts[cell]...)
	}
	spec.Compose = func(i int64, rcpt string) (string, []byte) {
		id := fmt.Sprintf("blast-%d", i)
		return id, testMessage(id, "load@remote.test", rcpt, fmt.Sprintf("Message %d.\r\n%s", i, strings.Repeat("blast radius ", 1+int(i)%70)))
	}
	return blast.NewLoad(spec).Run(stop)
}

// sessionCheck logs in over IMAP and POP3 on a node and runs a few
// commands, returning the first failure.
func sessionCheck(node *server, user string) error {
	_, err := blast.SessionCheck(node.addr("imap"), node.addr("pop3"), user, user)
	return err
}

// TestClusterBlastRadius: with SMTP load to the accounts of both cells
// through both nodes, cell a's PostgreSQL is stopped as by a crash, and
// started again later. During the outage intake answers no 5xx, cell b's
// IMAP and POP3 sessions work on both nodes, and cell a's get temporary
// errors; afterwards every message accepted for either cell is delivered
// exactly once, byte for byte.
func TestClusterBlastRadius(t *testing.T) {
	c := startCluster(t, 3)
	blastRadius(t, c, "PostgreSQL", func() { c.pg["a"].Stop("immediate") }, func() {
		if err := c.pg["a"].Restart(); err != nil {
			t.Fatalf("restart cell a's PostgreSQL: %v", err)
		}
	})
}

// TestClusterBlastRadiusS3 is TestClusterBlastRadius with cell a's S3
// server killed instead of its database: its sessions log in and list,
// and fail, temporarily, to read message bytes.
func TestClusterBlastRadiusS3(t *testing.T) {
	c := startCluster(t, 3)
	blastRadius(t, c, "S3 server", c.s3["a"].Kill, func() {
		if err := c.s3["a"].Restart(); err != nil {
			t.Fatalf("restart cell a's S3 server: %v", err)
		}
	})
}

// blastRadius runs the load, breaks cell a with down, checks the sessions of
// both cells, mends it with up, and checks every accepted message.
func blastRadius(t *testing.T, c *cluster, what string, down, up func()) {
	stop := make(chan struct{})
	results := make(chan []blast.Result, 1)
	go func() { results <- clusterLoad(c, 8, stop) }()
	time.Sleep(2 * time.Second)
	down()
	t.Logf("cell a's %s is down", what)
	// Sessions of cell b work on both nodes; cell a's get temporary
	// errors, never a wrong answer.
	for round := range 3 {
		for i, node := range c.nodes {
			for _, user := range c.accounts["b"] {
				if err := sessionCheck(node, user); err != nil {
					t.Errorf("round %d: cell b's %s on node %d during cell a's outage: %v", round, user, i+1, err)
				}
			}
			for _, err := range []error{sessionCheck(node, c.accounts["a"][0]), pop3Only(node, c.accounts["a"][0])} {
				if err == nil {
					t.Errorf("round %d: cell a's sessions on node %d work while its %s is down", round, i+1, what)
				} else if !blast.Temporary(err) {
					t.Errorf("round %d: cell a's session on node %d failed without a temporary error: %v", round, i+1, err)
				}
			}
		}
	}
	// Deliveries to cell b go on: a message sent now through either node
	// reaches its mailbox while cell a is still down.
	var probes []blast.Result
	for i, node := range c.nodes {
		user := c.accounts["b"][0]
		id := fmt.Sprintf("during-%d", i)
		data := testMessage(id, "probe@remote.test", user, "Cell b still works.")
		probes = append(probes, blast.Result{ID: id, Rcpt: user, Data: data, Code: 250})
		sc, err := smtp.Dial(node.addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		if err := blast.Send(sc, "probe@remote.test", []string{user}, data); err != nil {
			t.Fatalf("send to cell b through node %d during cell a's outage: %v", i+1, err)
		}
		sc.Close()
		waitFor(t, 60*time.Second, fmt.Sprintf("the message through node %d in cell b's mailbox", i+1), func() bool {
			for _, raw := range stored(t, c.nodes[0], user, user, "INBOX") {
				if strings.Contains(string(raw), "<"+id+"@e2e.test>") {
					return true
				}
			}
			return false
		})
	}
	// The status says which cell is down, and that its mail waits.
	st := clusterStatus(t, c.nodes[0])
	if len(st.Cells) != 2 || st.Cells[0].Up || !st.Cells[1].Up || len(st.Nodes) != 2 {
		t.Errorf("cluster status during cell a's outage: %+v", st)
	}
	t.Logf("cluster status during the outage: %+v", st)
	resp, err := http.Get("http://" + c.nodes[0].addr("http") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`casella_cell_up{cell="a"} 0`, `casella_cell_up{cell="b"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics during cell a's outage lacks %s", want)
		}
	}
	up()
	t.Logf("cell a's %s is back", what)
	time.Sleep(2 * time.Second)
	close(stop)
	rs := <-results
	checkAll(t, c, append(rs, probes...))
	// Every message's bytes are in its cell's bucket.
	out := c.nodes[0].casella("verify")
	if !strings.Contains(out, "cell a:") || !strings.Contains(out, "cell b:") || strings.Count(out, "\nhealthy\n") != 2 {
		t.Fatalf("casella verify after the outage:\n%s", out)
	}
}

// clusterStatus returns the cluster part of a node's /api/status.
func clusterStatus(t *testing.T, s *server) web.Cluster {
	t.Helper()
	resp, err := http.Get("http://" + s.addr("http") + "/api/status")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	defer resp.Body.Close()
	var st web.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Cluster == nil {
		t.Fatalf("status: %v, cluster %v", err, st.Cluster)
	}
	return *st.Cluster
}

// pop3Only runs a POP3 session alone on a node.
func pop3Only(node *server, user string) error {
	_, err := blast.POP3Check(node.addr("pop3"), user, user)
	return err
}

// TestClusterNodeKill: a node SIGKILLed under load and started again
// loses and duplicates nothing it accepted: its spool, on its own disk,
// is delivered into the cells after the restart.
func TestClusterNodeKill(t *testing.T) {
	c := startCluster(t, 2)
	stop := make(chan struct{})
	results := make(chan []blast.Result, 1)
	go func() { results <- clusterLoad(c, 8, stop) }()
	time.Sleep(3 * time.Second)
	victim := c.nodes[1]
	victim.kill()
	t.Log("node 2 killed")
	time.Sleep(time.Second)
	c.nodes[1] = startServer(t, victim.data, victim.config, "--allow-faults")
	time.Sleep(2 * time.Second)
	close(stop)
	rs := <-results
	checkAll(t, c, rs)
}

// checkAll waits for every node's spool to drain and checks that each
// message accepted for an account is in its INBOX exactly once, byte for
// byte, and that nothing else is, but messages whose reply was lost.
func checkAll(t *testing.T, c *cluster, rs []blast.Result) {
	t.Helper()
	codes := map[int]int{}
	errs := map[string]int{}
	for _, r := range rs {
		codes[r.Code]++
		if r.Err != nil {
			errs[r.Err.Error()]++
		}
		if r.Code >= 500 {
			t.Errorf("message %s to %s refused with %d", r.ID, r.Rcpt, r.Code)
		}
	}
	t.Logf("SMTP replies (0: connection lost): %v", codes)
	for e, n := range errs {
		t.Logf("%d times: %s", n, e)
	}
	for i, node := range c.nodes {
		waitFor(t, 180*time.Second, fmt.Sprintf("node %d's spool to drain", i+1), func() bool { return inboundDepth(t, node) == 0 })
	}
	for _, cell := range []string{"a", "b"} {
		var sum blast.Tally
		for _, user := range c.accounts[cell] {
			tally, err := blast.Check(t.Context(), c.nodes[0].addr("imap"), user, user, rs)
			if err != nil {
				t.Fatalf("reading %s's INBOX: %v", user, err)
			}
			if p := tally.Problems(); len(p) > 0 || tally.Others > 0 {
				t.Errorf("%s's INBOX: %q, %d messages never sent", user, p, tally.Others)
			}
			sum.Add(tally)
		}
		t.Logf("cell %s: %d messages accepted, %d delivered", cell, sum.Accepted, sum.Delivered)
	}
}

// TestClusterConcurrentAppend: two nodes APPEND to one mailbox at once,
// 1,000 messages each. No UID is given twice, each node sees its UIDs
// grow, MODSEQ grows with UID, and every message is there once.
func TestClusterConcurrentAppend(t *testing.T) {
	c := startCluster(t, 1)
	user := c.accounts["a"][0]
	const perNode = 1000
	uids := make([][]imap.UID, len(c.nodes))
	var wg sync.WaitGroup
	errs := make(chan error, len(c.nodes))
	for i, node := range c.nodes {
		wg.Go(func() {
			cl, err := imapclient.DialInsecure(node.addr("imap"), nil)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			if err := cl.Login(user, user).Wait(); err != nil {
				errs <- err
				return
			}
			for k := range perNode {
				data := testMessage(fmt.Sprintf("append-%d-%d", i, k), "a@remote.test", user, "Appended.")
				cmd := cl.Append("INBOX", int64(len(data)), nil)
				if _, err := cmd.Write(data); err != nil {
					errs <- err
					return
				}
				if err := cmd.Close(); err != nil {
					errs <- err
					return
				}
				res, err := cmd.Wait()
				if err != nil {
					errs <- fmt.Errorf("node %d, append %d: %w", i+1, k, err)
					return
				}
				uids[i] = append(uids[i], res.UID)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[imap.UID]int{}
	for i, us := range uids {
		for k, u := range us {
			if k > 0 && u <= us[k-1] {
				t.Fatalf("node %d: APPEND %d got UID %d after %d", i+1, k, u, us[k-1])
			}
			if prev, ok := seen[u]; ok {
				t.Fatalf("UID %d given to node %d and node %d", u, prev+1, i+1)
			}
			seen[u] = i
		}
	}

	cl, err := imapclient.DialInsecure(c.nodes[0].addr("imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(user, user).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	msgs, err := cl.Fetch(all, &imap.FetchOptions{UID: true, ModSeq: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*perNode {
		t.Fatalf("INBOX holds %d messages, want %d", len(msgs), 2*perNode)
	}
	ids := map[string]bool{}
	for k, m := range msgs {
		if k > 0 && (m.UID <= msgs[k-1].UID || m.ModSeq <= msgs[k-1].ModSeq) {
			t.Fatalf("UID %d MODSEQ %d follows UID %d MODSEQ %d", m.UID, m.ModSeq, msgs[k-1].UID, msgs[k-1].ModSeq)
		}
		id := messageID.FindSubmatch(m.FindBodySection(section))
		if id == nil || ids[string(id[1])] {
			t.Fatalf("message UID %d: Message-ID missing or seen twice: %q", m.UID, id)
		}
		ids[string(id[1])] = true
	}
	t.Logf("%d APPENDs through two nodes: UIDs %d to %d", 2*perNode, msgs[0].UID, msgs[len(msgs)-1].UID)
}

// TestClusterCellDownAtStart: nodes start while cell a's PostgreSQL is
// down. They say which cell is down, serve cell b, keep cell a's mail in
// their spools, and open cell a in the background once it is back.
func TestClusterCellDownAtStart(t *testing.T) {
	c := startClusterThen(t, 1, func(c *cluster) {
		if err := c.pg["a"].Stop("immediate"); err != nil {
			t.Fatal(err)
		}
	})
	for i, node := range c.nodes {
		if !strings.Contains(node.log(), "cell is down") {
			t.Fatalf("node %d does not say that cell a is down:\n%s", i+1, logTail(node, 20))
		}
	}
	var rs []blast.Result
	for _, user := range []string{c.accounts["a"][0], c.accounts["b"][0]} {
		id := "start-" + user[:2]
		data := testMessage(id, "x@remote.test", user, "Sent while cell a is down.")
		sc, err := smtp.Dial(c.nodes[0].addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		if err := blast.Send(sc, "x@remote.test", []string{user}, data); err != nil {
			t.Fatalf("send to %s while cell a is down: %v", user, err)
		}
		sc.Close()
		rs = append(rs, blast.Result{ID: id, Rcpt: user, Data: data, Code: 250})
	}
	b := c.accounts["b"][0]
	waitFor(t, 60*time.Second, "cell b's message delivered", func() bool { return countStored(t, c.nodes[1], b, b, "INBOX") == 1 })
	if err := sessionCheck(c.nodes[1], b); err != nil {
		t.Fatalf("cell b's sessions while cell a is down: %v", err)
	}
	if depth := inboundDepth(t, c.nodes[0]); depth != 1 {
		t.Fatalf("node 1's spool holds %d messages, want cell a's one", depth)
	}
	if err := c.pg["a"].Restart(); err != nil {
		t.Fatal(err)
	}
	checkAll(t, c, rs)
	if !strings.Contains(c.nodes[0].log(), "cell is open") {
		t.Errorf("node 1 does not say that cell a opened")
	}
}

// TestClusterSievePush: a script stored with sieve-connect through node 2
// is pushed as a SieveScript StateChange to a JMAP event source held on
// node 1, through the directory's LISTEN/NOTIFY.
func TestClusterSievePush(t *testing.T) {
	need(t, "sieve-connect")
	c := startCluster(t, 1)
	user := c.accounts["a"][0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp := eventSource(ctx, t, c.nodes[0], user, user, "SieveScript")
	defer resp.Body.Close()
	pushed := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		pushed <- string(b)
	}()
	file := filepath.Join(t.TempDir(), "keep.sieve")
	os.WriteFile(file, []byte("keep;\n"), 0o600)
	start := time.Now()
	if out, err := sieveConnect(t, c.nodes[1], user, user, "--upload", "--localsieve", file, "--remotesieve", "main"); err != nil {
		t.Fatalf("sieve-connect through node 2: %v\n%s", err, out)
	}
	select {
	case body := <-pushed:
		if !strings.Contains(body, `"SieveScript":"`) {
			t.Fatalf("node 1 pushed %q", body)
		}
		t.Logf("node 1 pushed the script stored through node 2 %v after sieve-connect started", time.Since(start).Round(time.Millisecond))
	case <-ctx.Done():
		t.Fatal("node 1 pushed nothing for a script stored through node 2")
	}
}

// TestClusterSubmissionPush: a submission sent through node 2, to an
// account of the other cell, gets its delivery status written on node 2
// once its copy is delivered; the JMAP event source of the sender on
// node 1 pushes that status's EmailSubmission state. No mail of the
// sender changes with the status, so only the directory's notification
// (pg_notify) can tell node 1.
func TestClusterSubmissionPush(t *testing.T) {
	c := startCluster(t, 1)
	from, to := c.accounts["a"][0], c.accounts["b"][0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+c.nodes[0].addr("http")+"/jmap/eventsource?types=EmailSubmission&closeafter=no&ping=0", nil)
	req.SetBasicAuth(from, from)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("eventsource on node 1: %v %v", resp, err)
	}
	defer resp.Body.Close()
	pushed := make(chan string, 16)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(b)
			if n > 0 {
				pushed <- string(b[:n])
			}
			if err != nil {
				close(pushed)
				return
			}
		}
	}()

	base := "http://" + c.nodes[1].addr("http")
	var session struct {
		PrimaryAccounts map[string]string `json:"primaryAccounts"`
	}
	jmapDo(t, "GET", base+"/.well-known/jmap", from, from, nil, &session)
	acct := session.PrimaryAccounts["urn:ietf:params:jmap:mail"]
	api := func(calls ...any) []json.RawMessage {
		t.Helper()
		var r struct {
			MethodResponses [][]json.RawMessage `json:"methodResponses"`
		}
		jmapDo(t, "POST", base+"/jmap/api", from, from, map[string]any{"using": []string{"urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"}, "methodCalls": calls}, &r)
		var out []json.RawMessage
		for _, mr := range r.MethodResponses {
			var name string
			json.Unmarshal(mr[0], &name)
			if name == "error" {
				t.Fatalf("JMAP error: %s", mr[1])
			}
			out = append(out, mr[1])
		}
		return out
	}
	var setup struct {
		List []struct {
			ID   string `json:"id"`
			Role string `json:"role"`
		} `json:"list"`
	}
	r := api([]any{"Mailbox/get", map[string]any{"accountId": acct}, "m"}, []any{"Identity/get", map[string]any{"accountId": acct}, "i"})
	var drafts, identity string
	json.Unmarshal(r[0], &setup)
	for _, mb := range setup.List {
		if mb.Role == "drafts" {
			drafts = mb.ID
		}
	}
	json.Unmarshal(r[1], &setup)
	identity = setup.List[0].ID
	r = api(
		[]any{"Email/set", map[string]any{"accountId": acct, "create": map[string]any{"d": map[string]any{
			"mailboxIds": map[string]bool{drafts: true}, "from": []any{map[string]any{"email": from}}, "to": []any{map[string]any{"email": to}},
			"subject": "Across", "textBody": []any{map[string]any{"partId": "1"}}, "bodyValues": map[string]any{"1": map[string]any{"value": "Pushed?"}},
		}}}, "e"},
		[]any{"EmailSubmission/set", map[string]any{"accountId": acct, "create": map[string]any{"s": map[string]any{"identityId": identity, "emailId": "#d"}}}, "s"},
	)
	var created struct {
		Created map[string]struct{ ID string } `json:"created"`
	}
	json.Unmarshal(r[1], &created)
	id := created.Created["s"].ID
	if id == "" {
		t.Fatalf("EmailSubmission/set: %s", r[1])
	}
	sent := time.Now()
	// Node 2 writes the status once the copy is delivered: its state
	// then is the one node 1 must push.
	var state string
	for state == "" {
		var got struct {
			State string `json:"state"`
			List  []struct {
				DeliveryStatus map[string]struct {
					Delivered string `json:"delivered"`
				} `json:"deliveryStatus"`
			} `json:"list"`
		}
		json.Unmarshal(api([]any{"EmailSubmission/get", map[string]any{"accountId": acct, "ids": []string{id}}, "g"})[0], &got)
		if len(got.List) == 1 && got.List[0].DeliveryStatus[to].Delivered == "yes" {
			state = got.State
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the submission was not delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := `"EmailSubmission":"` + state + `"`
	var events strings.Builder
	for !strings.Contains(events.String(), want) {
		select {
		case s, ok := <-pushed:
			if !ok {
				t.Fatalf("the stream ended; pushed %q, want %s", events.String(), want)
			}
			events.WriteString(s)
		case <-time.After(10 * time.Second):
			t.Fatalf("node 1 did not push the delivery status written on node 2; pushed %q, want %s", events.String(), want)
		}
	}
	t.Logf("node 1 pushed the delivery status %v after the submission", time.Since(sent).Round(time.Millisecond))
}
