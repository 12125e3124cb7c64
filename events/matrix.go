package events

// priorityMatrix is the ITIL impact × urgency matrix of design.md.
var priorityMatrix = map[Level]map[Level]Priority{
	High:   {High: "P1", Medium: "P2", Low: "P3"},
	Medium: {High: "P2", Medium: "P3", Low: "P4"},
	Low:    {High: "P3", Medium: "P4", Low: "P5"},
}

// PriorityOf returns the priority of an impact and an urgency, or a *ValidationError
// naming the invalid one.
func PriorityOf(impact, urgency Level) (Priority, error) {
	if err := oneOf("impact", impact, Levels()); err != nil {
		return "", err
	}
	if err := oneOf("urgency", urgency, Levels()); err != nil {
		return "", err
	}
	return priorityMatrix[impact][urgency], nil
}
