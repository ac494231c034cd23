package objcache_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/refbackend"
)

// TestDiagnoseSSE: the doctor's probes tell the aws profile (copies work
// and are encrypted) from the rgw profile (CopyObject 501 for encrypted
// sources; plain->encrypted copies stored without the echo), and leave no
// probe object behind.
func TestDiagnoseSSE(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		for _, enc := range []ssekeys.Config{{Keys: keyring(t, newKey(t))}, {KMSKeyID: st.kmsSecret()}, {}} {
			c := st.client(enc, nil, func(cfg *objcache.ClientConfig) { cfg.Prefix = "sub" })
			d := c.DiagnoseSSE(context.Background())
			if d.RoundTrip != nil || d.CopyErr != nil || d.PlainCopyErr != nil {
				t.Fatalf("%s: %+v", enc.Describe(), d)
			}
			encrypted := enc.Keys != nil || enc.KMSKeyID != ""
			rgw := st.profile == refbackend.ProfileRGW
			if d.CopyTested != encrypted || d.PlainCopyTested != encrypted ||
				d.CopyRefused != (rgw && encrypted) || d.PlainCopyUnencrypted != (rgw && encrypted) {
				t.Errorf("%s: %+v", enc.Describe(), d)
			}
		}
		out, err := st.raw.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil || len(out.Contents) != 0 {
			t.Errorf("probe objects left: %d, %v", len(out.Contents), err)
		}
	})
}

func TestBucketReplication(t *testing.T) {
	st := newStack(t, refbackend.ProfileAWS)
	c := st.client(ssekeys.Config{}, nil)
	ctx := context.Background()
	if on, _, err := c.BucketReplication(ctx); on || err != nil {
		t.Fatalf("fresh bucket: replication %v, %v", on, err)
	}
	_, err := st.raw.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(bucket), ReplicationConfiguration: &types.ReplicationConfiguration{
		Role: aws.String("arn:aws:iam::1:role/r"),
		Rules: []types.ReplicationRule{{Status: types.ReplicationRuleStatusEnabled, Priority: aws.Int32(1), ID: aws.String("r1"),
			Filter: &types.ReplicationRuleFilter{Prefix: aws.String("")}, DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
			Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:::dest")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if on, n, err := c.BucketReplication(ctx); !on || n != 1 || err != nil {
		t.Errorf("replication = %v, %d rules, %v", on, n, err)
	}
}
