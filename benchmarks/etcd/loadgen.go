// etcd-loadgen: the same closed-loop workload synod-bench runs, against etcd,
// through etcd's own Go client (clientv3). Built in GOPATH mode against
// Debian's golang-etcd-server-dev by benchmarks/compare-etcd.
//
//   etcd-loadgen -endpoints 127.0.0.1:2379,... -clients 16 -size 100 -duration 10s -warmup 2s
//
// Prints one line: clients=N size=S ops/s=X p50=Ams p99=Bms p999=Cms errors=E
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated etcd client endpoints")
	clients := flag.Int("clients", 1, "concurrent closed-loop clients")
	size := flag.Int("size", 100, "value size in bytes")
	duration := flag.Duration("duration", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up before measuring")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd-loadgen:", err)
		os.Exit(1)
	}
	defer cli.Close()

	value := strings.Repeat("x", *size)
	start := time.Now()
	measureStart := start.Add(*warmup)
	end := measureStart.Add(*duration)
	var mu sync.Mutex
	var latencies []float64
	errors := 0
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			for i := 0; ; i++ {
				sent := time.Now()
				if sent.After(end) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cli.Put(ctx, fmt.Sprintf("k%d-%d", id, i%1000), value)
				cancel()
				done := time.Now()
				mu.Lock()
				if err != nil {
					errors++
				} else if sent.After(measureStart) && !done.After(end) {
					latencies = append(latencies, float64(done.Sub(sent).Microseconds())/1000.0)
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	sort.Float64s(latencies)
	pct := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(q*float64(len(latencies)-1))]
	}
	fmt.Printf("clients=%d size=%d ops/s=%.0f p50=%.2fms p99=%.2fms p999=%.2fms errors=%d\n",
		*clients, *size, float64(len(latencies))/duration.Seconds(), pct(0.5), pct(0.99), pct(0.999), errors)
}
