package sandbox

// Account is a sandbox user. The sandbox has two: the default account,
// which signs in unless the client asks to choose (prompt=select_account),
// and a second one with droplets of its own. /v2/account and the token
// response's info object describe the account a grant belongs to.
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

// sandboxAccount returns the fixed default account. The UUIDs have the
// shape DigitalOcean uses for users and teams (40 hex digits) and never
// change, so tests and screenshots are reproducible.
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

		// DropletLimit is set by New: however many droplets Config.Droplets
		// generates, plus room to create 25 more.
		FloatingIPLimit: 5,
	}
}

// secondAccount returns the other account, for trying "use another
// account": another user on another team, with a handful of droplets.
func secondAccount() Account {
	return Account{
		Name:          "Octavia the Octopus",
		Email:         "octavia@example.com",
		UUID:          "3f1a9c27e54b80d6c2e19f4a7b3d05c8e6a2f917",
		EmailVerified: true,
		Status:        "active",
		TeamUUID:      "8c02d4e6f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9",
		TeamName:      "Octavia's Lab",

		DropletLimit:    10, // room to create 5, to meet the limit quickly
		FloatingIPLimit: 3,
	}
}

// secondAccountDroplets is how many droplets the second account has,
// whatever Config.Droplets says (that one sizes the default account).
const secondAccountDroplets = 5

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
