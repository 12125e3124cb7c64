module github.com/ledgerdesk/ledgerdesk/projections

go 1.26.8
