package server

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"casella/internal/config"
	"casella/internal/limit"
)

// newHTTPServer returns the HTTP listener's server for h, with cfg's limits:
// a client that sends a header slowly, holds a connection idle or sends a
// large request is cut off instead of holding the server's memory and
// file descriptors.
func newHTTPServer(cfg config.HTTP, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           http.MaxBytesHandler(h, int64(cfg.MaxRequestBody)),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.ReadTimeout.D(),
		WriteTimeout:      cfg.WriteTimeout.D(),
		IdleTimeout:       cfg.IdleTimeout.D(),
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		// Handshake and header errors of hostile clients: debug, not noise.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}

// gatedListener admits HTTP connections through a limit.Gate; a refused
// client gets 503 with Retry-After and is closed, without taking one of
// the server's goroutines.
type gatedListener struct {
	net.Listener
	gate *limit.Gate
	log  *slog.Logger
}

// refusal is the whole answer to a refused connection (RFC 9110 section
// 15.6.4).
const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 5\r\nConnection: close\r\nContent-Length: 40\r\n\r\nToo many connections, try again later.\r\n"

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, refused := l.gate.Admit(limit.Key(c.RemoteAddr()))
		if refused == "" {
			return &gatedConn{Conn: c, release: release}, nil
		}
		l.log.Info("http connection refused", "remote", c.RemoteAddr().String(), "reason", refused)
		// A fresh socket's send buffer takes the answer at once.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte(refusal))
		c.Close()
	}
}

// gatedConn gives its slot back when closed.
type gatedConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *gatedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
