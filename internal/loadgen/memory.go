package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Memory is the memory of a set of processes, read from /proc (Linux).
type Memory struct {
	Processes int   `json:"processes"`
	RSS       int64 `json:"rss_bytes"` // sum of VmRSS; counts shared pages once per process
	// PSS is the sum of the proportional set sizes (Pss in smaps_rollup):
	// shared pages divided among their processes, so a sum over many
	// processes (Dovecot's) is not inflated. Zero when unreadable.
	PSS int64 `json:"pss_bytes"`
}

// readMemory sums the memory of the processes pids and all their
// descendants, so that a server that forks per connection (Dovecot's
// master and its imap processes) is measured whole.
func readMemory(pids []int) (Memory, error) {
	tree, err := descendants(pids)
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, pid := range tree {
		rss, err := statusField(pid, "VmRSS:")
		if err != nil {
			// A process that ended between the listing and now has no
			// memory left to count.
			if os.IsNotExist(err) {
				continue
			}
			return Memory{}, err
		}
		m.Processes++
		m.RSS += rss
		if pss, err := rollupField(pid, "Pss:"); err == nil {
			m.PSS += pss
		}
	}
	if m.Processes == 0 {
		return Memory{}, fmt.Errorf("none of the processes %v is running; give the server's process id with --pid", pids)
	}
	return m, nil
}

// descendants returns pids and the ids of all their descendants.
func descendants(pids []int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pid, ppid, ok := parseStat(data)
		if ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	seen := map[int]bool{}
	queue := append([]int(nil), pids...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out, nil
}

// parseStat reads the process id and parent id from /proc/PID/stat; the
// command name in parentheses may hold spaces and parentheses, so the
// fields are counted from its last ')' (proc(5)).
func parseStat(data []byte) (pid, ppid int, ok bool) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 1 || end < open {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	if err != nil {
		return 0, 0, false
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	return pid, ppid, err == nil
}

func statusField(pid int, name string) (int64, error) {
	return kBField(fmt.Sprintf("/proc/%d/status", pid), name)
}

func rollupField(pid int, name string) (int64, error) {
	return kBField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), name)
}

// kBField reads a "Name:   123 kB" line of a /proc file, in bytes. A
// field that is missing (a kernel thread has no VmRSS) is zero.
func kBField(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading %s of %s: %w", name, path, err)
		}
		return kb << 10, nil
	}
	return 0, sc.Err()
}
