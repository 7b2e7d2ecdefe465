package sim

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Level is a Log4j 2 level, ordered by Log4j's intLevel: a message is logged when its level is
// at most the logger's level (OFF < FATAL < ERROR < WARN < INFO < DEBUG < TRACE < ALL).
type Level int

// Log4j 2 levels with their intLevel values.
const (
	LevelOff   Level = 0
	LevelFatal Level = 100
	LevelError Level = 200
	LevelWarn  Level = 300
	LevelInfo  Level = 400
	LevelDebug Level = 500
	LevelTrace Level = 600
	LevelAll   Level = math.MaxInt32
)

var levelNames = map[Level]string{
	LevelOff: "OFF", LevelFatal: "FATAL", LevelError: "ERROR", LevelWarn: "WARN",
	LevelInfo: "INFO", LevelDebug: "DEBUG", LevelTrace: "TRACE", LevelAll: "ALL",
}

func (l Level) String() string {
	if s, ok := levelNames[l]; ok {
		return s
	}
	return strconv.Itoa(int(l))
}

// ParseLevel parses a Log4j level name, case-insensitively.
func ParseLevel(s string) (Level, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for l, n := range levelNames {
		if n == u {
			return l, nil
		}
	}
	return 0, fmt.Errorf("invalid level %q", s)
}

// Levels is the level configuration of a Log4j 2 properties file: the root level and the
// levels of named loggers. A logger without its own level takes the level of its closest
// ancestor by dotted prefix ("a.b" for "a.b.C"), then the root's. A nil *Levels means
// root INFO and no named loggers.
type Levels struct {
	Root    Level
	Loggers map[string]Level
	// MonitorInterval is the file's monitorInterval: Log4j re-reads the file this often
	// (0 = never).
	MonitorInterval time.Duration
}

// DefaultLevels is what Log4j does without a usable configuration file: root ERROR.
func DefaultLevels() *Levels { return &Levels{Root: LevelError} }

// For returns the effective level of logger.
func (l *Levels) For(logger string) Level {
	if l == nil {
		return LevelInfo
	}
	name := logger
	for {
		if lvl, ok := l.Loggers[name]; ok {
			return lvl
		}
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[:i]
	}
	return l.Root
}

// Enabled reports whether a message at lvl from logger is logged.
func (l *Levels) Enabled(logger string, lvl Level) bool {
	return lvl != LevelOff && lvl <= l.For(logger)
}

// ParseLog4j parses the level configuration out of a Log4j 2 properties file (the format of
// Flink's conf/log4j-console.properties): rootLogger.level, the short form
// "rootLogger = LEVEL, appenderRef...", logger.<id>.name with logger.<id>.level (or the
// short form "logger.<id> = LEVEL, ..."), monitorInterval, and property.<name> values with
// ${name}, ${env:NAME:-default} and ${sys:name:-default} lookups. Appenders are not
// interpreted: everything goes to the console.
func ParseLog4j(props []byte) (*Levels, error) {
	kvs, err := parseProperties(props)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, kv := range kvs {
		if name, ok := strings.CutPrefix(kv.key, "property."); ok {
			vars[name] = kv.value
		}
	}
	subst := func(s string) string { return log4jSubst(s, vars) }

	// Without a rootLogger level, Log4j's root logger is at ERROR.
	lv := &Levels{Root: LevelError, Loggers: map[string]Level{}}
	names := map[string]string{}
	levels := map[string]string{}
	var ids []string
	for _, kv := range kvs {
		key, value := kv.key, subst(kv.value)
		switch {
		case key == "monitorInterval":
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil {
				return nil, fmt.Errorf("monitorInterval: %w", err)
			}
			lv.MonitorInterval = time.Duration(n) * time.Second
		case key == "rootLogger.level":
			l, err := ParseLevel(value)
			if err != nil {
				return nil, fmt.Errorf("rootLogger.level: %w", err)
			}
			lv.Root = l
		case key == "rootLogger":
			first, _, _ := strings.Cut(value, ",")
			l, err := ParseLevel(first)
			if err != nil {
				return nil, fmt.Errorf("rootLogger: %w", err)
			}
			lv.Root = l
		case strings.HasPrefix(key, "logger."):
			rest := strings.TrimPrefix(key, "logger.")
			id, attr, hasAttr := strings.Cut(rest, ".")
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
			switch {
			case !hasAttr:
				first, _, _ := strings.Cut(value, ",")
				levels[id] = first
			case attr == "name":
				names[id] = strings.TrimSpace(value)
			case attr == "level":
				levels[id] = value
			}
		}
	}
	for _, id := range ids {
		name, ok := names[id]
		if !ok || name == "" {
			if _, hasLevel := levels[id]; hasLevel {
				return nil, fmt.Errorf("logger.%s has a level but no name", id)
			}
			continue
		}
		s, ok := levels[id]
		if !ok {
			continue // inherits from its parent
		}
		l, err := ParseLevel(s)
		if err != nil {
			return nil, fmt.Errorf("logger.%s.level: %w", id, err)
		}
		lv.Loggers[name] = l
	}
	return lv, nil
}

type property struct{ key, value string }

// parseProperties reads the java.util.Properties text format: # and ! comments, key and
// value separated by '=', ':' or whitespace, backslash line continuations and escapes.
func parseProperties(data []byte) ([]property, error) {
	var out []property
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var logical strings.Builder
	continuing := false
	for sc.Scan() {
		line := sc.Text()
		if continuing {
			line = strings.TrimLeft(line, " \t\f")
		} else {
			trimmed := strings.TrimLeft(line, " \t\f")
			if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '!' {
				continue
			}
			line = trimmed
		}
		// An odd number of trailing backslashes continues the line.
		n := len(line) - len(strings.TrimRight(line, `\`))
		if n%2 == 1 {
			logical.WriteString(line[:len(line)-1])
			continuing = true
			continue
		}
		logical.WriteString(line)
		continuing = false
		out = append(out, splitProperty(logical.String()))
		logical.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	if logical.Len() > 0 {
		out = append(out, splitProperty(logical.String()))
	}
	return out, nil
}

func splitProperty(line string) property {
	var key strings.Builder
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' && i+1 < len(line) {
			key.WriteByte(unescape(line[i+1]))
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		key.WriteByte(c)
		i++
	}
	rest := strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	var val strings.Builder
	for j := 0; j < len(rest); j++ {
		if rest[j] == '\\' && j+1 < len(rest) {
			val.WriteByte(unescape(rest[j+1]))
			j++
			continue
		}
		val.WriteByte(rest[j])
	}
	return property{key: key.String(), value: strings.TrimRight(val.String(), " \t")}
}

func unescape(c byte) byte {
	switch c {
	case 't':
		return '\t'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 'f':
		return '\f'
	}
	return c
}

// log4jSubst resolves ${name}, ${prefix:name} and ${prefix:name:-default} lookups the way
// Log4j does for the prefixes env and sys (system properties are never set here, so sys
// lookups take their default).
func log4jSubst(s string, vars map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		expr := s[i+2 : i+j]
		s = s[i+j+1:]
		name, def, hasDef := strings.Cut(expr, ":-")
		prefix, rest, hasPrefix := strings.Cut(name, ":")
		var v string
		var ok bool
		switch {
		case hasPrefix && prefix == "env":
			v, ok = os.LookupEnv(rest)
		case hasPrefix && prefix == "sys":
			ok = false
		default:
			v, ok = vars[name]
		}
		if !ok && hasDef {
			v = def
		}
		b.WriteString(v)
	}
}

// timeLayout is Log4j's %d{yyyy-MM-dd HH:mm:ss,SSS}.
const timeLayout = "2006-01-02 15:04:05,000"

// Log writes Log4j console lines (pattern "%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n",
// where the empty NDC %x prints "[]") to one writer, filtered by Levels that can be replaced
// while it runs. It is safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	w      io.Writer
	levels atomic.Pointer[Levels]
}

// NewLog returns a Log writing to w (nil discards) with levels (nil = root INFO).
func NewLog(w io.Writer, levels *Levels) *Log {
	if w == nil {
		w = io.Discard
	}
	l := &Log{w: w}
	l.levels.Store(levels)
	return l
}

// SetLevels replaces the level configuration (Log4j's monitorInterval reload).
func (l *Log) SetLevels(levels *Levels) { l.levels.Store(levels) }

// Logger returns the logger named name (a Java class name, by Flink's convention).
func (l *Log) Logger(name string) Logger { return Logger{log: l, name: name} }

// Logger is one named Log4j logger.
type Logger struct {
	log  *Log
	name string
}

// Enabled reports whether lvl is logged for this logger.
func (lg Logger) Enabled(lvl Level) bool { return lg.log.levels.Load().Enabled(lg.name, lvl) }

// Logf logs a formatted message at lvl.
func (lg Logger) Logf(lvl Level, format string, args ...any) {
	if !lg.Enabled(lvl) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	line := fmt.Sprintf("%s %-5s %-60s [] - %s\n", time.Now().Format(timeLayout), lvl, lg.name, msg)
	lg.log.mu.Lock()
	defer lg.log.mu.Unlock()
	_, _ = io.WriteString(lg.log.w, line)
}

// Tracef logs at TRACE.
func (lg Logger) Tracef(format string, args ...any) { lg.Logf(LevelTrace, format, args...) }

// Debugf logs at DEBUG.
func (lg Logger) Debugf(format string, args ...any) { lg.Logf(LevelDebug, format, args...) }

// Infof logs at INFO.
func (lg Logger) Infof(format string, args ...any) { lg.Logf(LevelInfo, format, args...) }

// Warnf logs at WARN.
func (lg Logger) Warnf(format string, args ...any) { lg.Logf(LevelWarn, format, args...) }

// Errorf logs at ERROR.
func (lg Logger) Errorf(format string, args ...any) { lg.Logf(LevelError, format, args...) }
