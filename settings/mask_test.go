package settings

import "testing"

func TestMaskDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p%40ss@h:5432/db", "postgres://u:****@h:5432/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?sslmode=disable&password=s3cret", "postgres://h/db?sslmode=disable&password=****"},
		{"host=h user=u password=s3cret dbname=db", "host=h user=u password=**** dbname=db"},
		{"host=h password='s 3 cret' dbname=db", "host=h password=**** dbname=db"},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		{"redis://:pw@h:6379/0", "redis://:****@h:6379/0"},
	}
	for _, tt := range tests {
		if got := maskDSN(tt.in); got != tt.want {
			t.Errorf("maskDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
