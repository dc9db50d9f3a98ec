package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/understage/understage/catalog/orggen"
)

// soak ingests a generated organisation of n entities, then keeps
// understage refreshing it (catalog.processingInterval = interval) while a
// reader asks for the first filtered page and a facet every second, for
// d; resident memory is sampled every 30 seconds. The report says whether
// memory stays flat: the samples of the last half against the first half.
func soak(bin string, n int, dbMode, pgURL, interval string, d time.Duration) (string, error) {
	work, err := os.MkdirTemp("", "understage-soak-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "org")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	_, parts, o, err := orggen.Write(dir, n)
	if err != nil {
		return "", err
	}
	u, err := startUnderstage(bin, work, parts, o.Total(), dbMode, pgURL, interval)
	if err != nil {
		return "", err
	}
	defer u.stop()
	if err := waitIngest(u.base, o.Total(), 2*time.Hour); err != nil {
		return "", err
	}
	ingest := time.Since(u.start)
	afterIngest, _ := rss(u.pid)
	log.Printf("benchcmp: soak: %d entities ingested in %s, %d MiB; soaking for %s", o.Total(), ingest.Round(time.Second), afterIngest/1024, d)

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	type sample struct {
		at  time.Duration
		kib int64
	}
	var samples []sample
	var reads, readErrors int
	var lat []time.Duration
	soakStart := time.Now()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	read := time.NewTicker(time.Second)
	defer read.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			cur, _ := rss(u.pid)
			if cur == 0 {
				return "", fmt.Errorf("understage exited during the soak")
			}
			samples = append(samples, sample{time.Since(soakStart), cur})
		case <-read.C:
			t := time.Now()
			err1 := getJSON(u.base+byQueryFirst, new(json.RawMessage))
			err2 := getJSON(u.base+"/api/catalog/entity-facets?facet=relations.ownedBy", new(json.RawMessage))
			lat = append(lat, time.Since(t))
			reads++
			if err1 != nil || err2 != nil {
				readErrors++
			}
		}
	}
	_, peak := rss(u.pid)
	if len(samples) < 2 {
		return "", fmt.Errorf("soak too short for two memory samples")
	}
	half := len(samples) / 2
	maxOf := func(s []sample) int64 {
		m := int64(0)
		for _, x := range s {
			m = max(m, x.kib)
		}
		return m
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var b strings.Builder
	fmt.Fprintf(&b, "## Memory soak\n\n- machine: %s\n- command: `%s`\n- date: %s\n- %d entities on %s, ingested in %s; then %s of refreshes (catalog.processingInterval %s) with a by-query page and a facet read every second\n\n",
		machine(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339), o.Total(), dbMode, ingest.Round(time.Second), d, interval)
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| resident memory after ingest | %d MiB |\n", afterIngest/1024)
	fmt.Fprintf(&b, "| resident memory, max of first half | %d MiB |\n", maxOf(samples[:half])/1024)
	fmt.Fprintf(&b, "| resident memory, max of second half | %d MiB |\n", maxOf(samples[half:])/1024)
	fmt.Fprintf(&b, "| resident memory, last sample | %d MiB |\n", samples[len(samples)-1].kib/1024)
	fmt.Fprintf(&b, "| resident memory, peak (VmHWM) | %d MiB |\n", peak/1024)
	fmt.Fprintf(&b, "| reads (page + facet pairs) | %d, %d failed |\n", reads, readErrors)
	if len(lat) > 0 {
		fmt.Fprintf(&b, "| read pair latency median / p99 | %.1f / %.1f ms |\n", ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]))
	}
	fmt.Fprintf(&b, "\nSamples (minutes: MiB):")
	for _, s := range samples {
		fmt.Fprintf(&b, " %.1f: %d;", s.at.Minutes(), s.kib/1024)
	}
	b.WriteString("\n")
	return b.String(), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// waitIngest waits until the generated organisation's n entities are served
// with their relations on both ends (see relationsComplete).
func waitIngest(base string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last int
	for time.Now().Before(deadline) {
		var page struct {
			TotalItems int `json:"totalItems"`
		}
		asked := time.Now()
		if err := getJSON(base+"/api/catalog/entities/by-query?filter=metadata.tags=gen&limit=0", &page); err == nil {
			if page.TotalItems >= n && relationsComplete(base, relationPairs[:3]) {
				return nil
			}
			last = page.TotalItems
		}
		time.Sleep(max(time.Second, probePause(time.Since(asked))))
	}
	return fmt.Errorf("ingest did not finish in %s (%d of %d)", limit, last, n)
}
