package processor

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEmbedded starts herald dev's cluster, reaches its broker and closes
// it, leaving no goroutine behind (TestMain).
func TestEmbedded(t *testing.T) {
	e, err := StartEmbedded(0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if len(e.Addrs()) != 1 {
		t.Fatalf("brokers %v, want one", e.Addrs())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKafkaCompression produces a record with each Compression to a cluster
// and reads it back: its batch carries that codec ("" is franz-go's default,
// snappy), and an unknown codec is refused by Opts.
func TestKafkaCompression(t *testing.T) {
	const topic = "compressed"
	c := testenv.Kafka(t, 1, topic)
	value := []byte(strings.Repeat(`{"title":"Hello","body":"from Herald"}`, 50))
	for _, tt := range []struct {
		name string
		want uint8 // the codec in the record batch's attributes
	}{
		{"", 2}, {"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4},
	} {
		t.Run("compression="+tt.name, func(t *testing.T) {
			opts, err := Kafka{Brokers: c.ListenAddrs(), Compression: tt.name}.Opts()
			if err != nil {
				t.Fatal(err)
			}
			prod, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			r := &kgo.Record{Value: value, Partition: 0}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(r.Offset)}}))
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			fetches := cons.PollRecords(ctx, 1)
			if err := fetches.Err(); err != nil {
				t.Fatal(err)
			}
			got := fetches.Records()
			if len(got) != 1 || !bytes.Equal(got[0].Value, value) {
				t.Fatalf("read %d records back, want the one produced", len(got))
			}
			if codec := got[0].Attrs.CompressionType(); codec != tt.want {
				t.Errorf("record batch compressed with codec %d, want %d", codec, tt.want)
			}
		})
	}
	// The processor builds several clients from one set of options at once:
	// under -race, a codec the clients rewrite as they start is caught here.
	for _, name := range []string{"none", "zstd"} {
		opts, err := Kafka{Brokers: c.ListenAddrs(), Compression: name}.Opts()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					t.Error(err)
					return
				}
				cl.Close()
			})
		}
		wg.Wait()
	}
	if _, err := (Kafka{Brokers: c.ListenAddrs(), Compression: "brotli"}).Opts(); err == nil || !strings.Contains(err.Error(), `"brotli"`) {
		t.Errorf("Opts with compression brotli: %v, want an error that names it", err)
	}
}

// TestKafkaMetadataMinAge checks that every client of Kafka.Opts asks for
// metadata again no sooner than MetadataMinAge, DefaultMetadataMinAge when
// it is 0, and that a value out of its bounds is refused at its edges.
func TestKafkaMetadataMinAge(t *testing.T) {
	for _, tt := range []struct {
		age, want time.Duration
		ok        bool
	}{
		{0, DefaultMetadataMinAge, true},
		{MinMetadataMinAge, MinMetadataMinAge, true},
		{MaxMetadataMinAge, MaxMetadataMinAge, true},
		{MinMetadataMinAge - time.Millisecond, 0, false},
		{MaxMetadataMinAge + time.Millisecond, 0, false},
	} {
		t.Run(tt.age.String(), func(t *testing.T) {
			opts, err := Kafka{Brokers: []string{"127.0.0.1:1"}, MetadataMinAge: tt.age}.Opts()
			if !tt.ok {
				if err == nil || !strings.Contains(err.Error(), "metadata minimum age") {
					t.Fatalf("Opts: %v, want an error that names the metadata minimum age", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if got := cl.OptValue(kgo.MetadataMinAge); got != tt.want {
				t.Errorf("the client's metadata min age is %v, want %v", got, tt.want)
			}
		})
	}
}
