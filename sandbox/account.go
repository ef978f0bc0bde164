package sandbox

// Account is the sandbox's only user. Every authorization is made by this
// account, and /v2/account and the token response's info object describe it.
type Account struct {
	Name          string
	Email         string
	UUID          string
	EmailVerified bool
	Status        string // "active", "warning" or "locked"
	StatusMessage string

	TeamUUID string
	TeamName string

	DropletLimit    int
	FloatingIPLimit int
}

// sandboxAccount returns the fixed account. The UUIDs have the shape
// DigitalOcean uses for users and teams (40 hex digits) and never change, so
// tests and screenshots are reproducible.
func sandboxAccount() Account {
	return Account{
		Name:          "Sammy the Shark",
		Email:         "sammy@example.com",
		UUID:          "b6fc48dbf6d9906cace5f3c78dc9851e757381ef",
		EmailVerified: true,
		Status:        "active",
		StatusMessage: "",
		TeamUUID:      "5df3e3004a17e242b7c20ca6c9fc25b701a47ece",
		TeamName:      "My Team",

		DropletLimit:    25,
		FloatingIPLimit: 5,
	}
}

// accountJSON is /v2/account's "account" object (components.schemas.account
// in DigitalOcean's OpenAPI description).
type accountJSON struct {
	DropletLimit    int      `json:"droplet_limit"`
	FloatingIPLimit int      `json:"floating_ip_limit"`
	Email           string   `json:"email"`
	Name            string   `json:"name"`
	UUID            string   `json:"uuid"`
	EmailVerified   bool     `json:"email_verified"`
	Status          string   `json:"status"`
	StatusMessage   string   `json:"status_message"`
	Team            teamJSON `json:"team"`
}

type teamJSON struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
}

// infoJSON is the "info" object of DigitalOcean's token response, which
// spares the app an API call to learn who signed in.
type infoJSON struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	UUID     string `json:"uuid"`
	TeamUUID string `json:"team_uuid"`
	TeamName string `json:"team_name"`
}

func (a Account) json() accountJSON {
	return accountJSON{
		DropletLimit:    a.DropletLimit,
		FloatingIPLimit: a.FloatingIPLimit,
		Email:           a.Email,
		Name:            a.Name,
		UUID:            a.UUID,
		EmailVerified:   a.EmailVerified,
		Status:          a.Status,
		StatusMessage:   a.StatusMessage,
		Team:            teamJSON{UUID: a.TeamUUID, Name: a.TeamName},
	}
}

func (a Account) info() infoJSON {
	return infoJSON{
		Name:     a.Name,
		Email:    a.Email,
		UUID:     a.UUID,
		TeamUUID: a.TeamUUID,
		TeamName: a.TeamName,
	}
}
