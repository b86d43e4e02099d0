package mailslot_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/mailslot"
)

func Example() {
	slot, err := mailslot.Create("conduit-example-events")
	if err != nil {
		panic(err)
	}
	defer slot.Close()

	w, err := mailslot.Open("conduit-example-events")
	if err != nil {
		panic(err)
	}
	w.Write([]byte("service started"))
	w.Write([]byte("")) // an empty message is a message too
	w.Close()

	for range 2 {
		msg, err := slot.ReadMessage()
		fmt.Printf("%q %v\n", msg, err)
	}

	// Nothing more is queued: the read ends at its deadline.
	slot.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = slot.ReadMessage()
	fmt.Println("deadline:", errors.Is(err, os.ErrDeadlineExceeded))
	// Output:
	// "service started" <nil>
	// "" <nil>
	// deadline: true
}
