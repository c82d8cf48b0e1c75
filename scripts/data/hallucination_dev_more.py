"""More hand-written development RAG answers for the hallucination combiner (issue 10, third
pass), aimed at what the first development set (``hallucination_dev.py``) has little of:
negations in words other than "not" and the listed opposites, swapped units, flipped
comparisons and time relations, invented clauses and extra facts without a new name or
number, and grounded answers with arithmetic of more than one step. Written by helper hallu3
without opening the frozen field set (``tests/unit/test_hallucination_dev.py`` checks that
no context or answer here occurs in it). Used to choose between model variants; never
trained on. Each case: a context, a question, grounded answers (0) and unsupported ones (1),
most unsupported answers with a grounded twin that says the same thing rightly."""

CASES = [
    {
        "context": [
            "Warranty terms. Laptops come with a 2-year manufacturer warranty covering hardware "
            "faults. Accidental damage such as drops and liquid spills is excluded. Batteries "
            "are covered for 12 months only.",
            "Repairs under warranty are free of charge, including shipping both ways. A "
            "replacement unit is sent if the repair takes longer than 10 working days.",
        ],
        "prompt": "I spilled coffee on my 8-month-old laptop. Is that covered?",
        "answers": [
            (0, "No, liquid spills count as accidental damage, which the warranty excludes."),
            (
                0,
                "Spill damage isn't part of the warranty; it only covers hardware faults, for "
                "two years.",
            ),
            (
                0,
                "The battery warranty lasts a year, half the length of the 24-month hardware "
                "warranty.",
            ),
            (
                0,
                "If a covered repair runs past 10 working days, you get a replacement unit. "
                "Shipping costs you nothing either way.",
            ),
            (1, "Yes, accidental damage such as liquid spills is covered for 2 years."),
            (1, "Batteries are covered for 12 weeks only."),
            (1, "Repairs under warranty are free, but you pay for shipping both ways."),
            (
                1,
                "A replacement unit is sent if the repair takes longer than 10 working days, "
                "provided you register the laptop within a month of purchase.",
            ),
            (1, "Batteries are covered for longer than the rest of the laptop."),
            (1, "Spills are covered, but drops are excluded."),
        ],
    },
    {
        "context": [
            "Enrolment. Children who turn 4 before 1 September may start in the reception class "
            "that September. Applications open on 1 November and close on 15 January.",
            "Siblings of current pupils get priority, followed by children living within the "
            "catchment area. Late applications are considered only after all on-time ones.",
        ],
        "prompt": "My daughter turns 4 in October. Can she start this September?",
        "answers": [
            (
                0,
                "No. Only children who are already 4 by 1 September can start that September, "
                "so she would start the following year.",
            ),
            (
                0,
                "Applications can be made from 1 November until 15 January, a window of about "
                "eleven weeks.",
            ),
            (
                0,
                "Brothers and sisters of pupils already at the school are ranked first, then "
                "families in the catchment area.",
            ),
            (0, "Late applications are looked at once every on-time application has been."),
            (1, "Yes, children who turn 4 after 1 September may also start that September."),
            (1, "Applications open on 15 January and close on 1 November."),
            (
                1,
                "Children living within the catchment area get priority, followed by siblings "
                "of current pupils.",
            ),
            (1, "Late applications are considered before on-time ones if places remain."),
            (
                1,
                "Siblings of current pupils get priority, as do children of staff working at "
                "the school.",
            ),
            (
                1,
                "Applications open on 1 November and close on 15 January, and need a birth "
                "certificate and proof of address.",
            ),
        ],
    },
    {
        "context": [
            "Service level. The API has a monthly uptime target of 99.9%. If uptime falls below "
            "99.9%, customers receive a credit of 10% of the monthly fee; below 99%, the credit "
            "is 25%.",
            "Credits must be requested within 30 days of the end of the affected month. "
            "Scheduled maintenance announced at least 48 hours in advance does not count as "
            "downtime.",
        ],
        "prompt": "We pay USD 2,000 a month and uptime was 98.7% last month. What do we get?",
        "answers": [
            (
                0,
                "98.7% is under 99%, so you qualify for the larger credit of 25%, which is USD "
                "500 on a USD 2,000 fee.",
            ),
            (
                0,
                "You get a quarter of the monthly fee back as a credit, but only if you ask "
                "for it within 30 days after the month ends.",
            ),
            (
                0,
                "Maintenance that was announced two days or more ahead is not counted as downtime.",
            ),
            (
                0,
                "At USD 2,000 a month, the 10% credit would be USD 200 and the 25% credit USD "
                "500, so the lower uptime is worth USD 300 more.",
            ),
            (1, "Below 99%, the credit is 10% of the monthly fee."),
            (1, "Credits must be requested within 30 hours of the end of the affected month."),
            (1, "Scheduled maintenance counts as downtime even when it is announced in advance."),
            (
                1,
                "Credits are applied automatically to the next invoice, so you don't need to "
                "request them.",
            ),
            (1, "If uptime rises above 99.9%, customers receive a credit of 10%."),
            (
                1,
                "You qualify for the 25% credit, which is USD 400 on a USD 2,000 fee.",
            ),
        ],
    },
    {
        "context": [
            "Capsule instructions. Adults swallow one 400 mg capsule every 8 hours when "
            "required, with a daily maximum of 3 capsules. Swallow each capsule with a meal.",
            "Young people aged 12 to 17 may have half a capsule every 8 hours. The capsules are "
            "unsuitable below age 12. If the pain persists beyond 5 days, stop and speak to a "
            "pharmacist.",
        ],
        "prompt": "How many capsules can I have per day, and can my 9-year-old take them?",
        "answers": [
            (
                0,
                "Adults can have up to 3 capsules a day, so at most 1,200 mg, spaced at least "
                "eight hours apart. Your 9-year-old should not take them: they're not for "
                "children under 12.",
            ),
            (0, "Take each one together with food, never on an empty stomach."),
            (
                0,
                "Teenagers between 12 and 17 get half a capsule, which is 200 mg, every 8 hours.",
            ),
            (0, "If the pain is still there after five days, stop and talk to a pharmacist."),
            (1, "Adults can have up to 3 capsules every 8 hours."),
            (1, "Swallow each capsule before a meal."),
            (1, "The capsules are suitable for children over 6 if the dose is halved."),
            (1, "Adults swallow one 400 g capsule every 8 hours when required."),
            (
                1,
                "Stop and speak to a pharmacist if the pain persists beyond 5 days, and avoid "
                "driving while you take them.",
            ),
            (1, "Young people aged 12 to 17 may have a whole capsule every 8 hours."),
        ],
    },
    {
        "context": [
            "Parking permits. Residents can buy an annual permit for GBP 120 or a quarterly "
            "permit for GBP 40. Each household may hold at most two permits.",
            "Visitor vouchers cost GBP 2 per day and are sold in books of 10. Permits do not "
            "apply in the pay-and-display bays on the high street.",
        ],
        "prompt": "Is the annual permit cheaper than buying quarterly ones?",
        "answers": [
            (
                0,
                "Yes. Four quarterly permits cost GBP 160 a year, so the annual one at GBP 120 "
                "saves you GBP 40.",
            ),
            (0, "A book of visitor vouchers costs GBP 20."),
            (
                0,
                "Your household can have two permits at most, and they aren't valid in the "
                "pay-and-display bays on the high street.",
            ),
            (0, "Over a year the quarterly route costs a third more than the annual permit."),
            (1, "No, the quarterly permits are cheaper over a year than the annual permit."),
            (1, "Each household may hold at most two permits, plus one for each visitor."),
            (1, "Permits also apply in the pay-and-display bays on the high street."),
            (1, "Visitor vouchers cost GBP 2 per hour and are sold in books of 10."),
            (
                1,
                "Four quarterly permits cost GBP 160 a year, so the annual one saves you GBP 60.",
            ),
            (1, "Residents can buy an annual permit for GBP 120, payable in monthly instalments."),
        ],
    },
    {
        "context": [
            "Trains to the airport leave every 15 minutes from platform 3 between 05:00 and "
            "23:30. The journey takes 28 minutes. Tickets bought on the train cost EUR 2 more "
            "than tickets bought at the machine.",
            "The express service, which stops only at the central station, runs every 30 "
            "minutes and takes 19 minutes. Bicycles are not allowed on the express.",
        ],
        "prompt": "What's the fastest way to the airport, and can I bring my bike?",
        "answers": [
            (
                0,
                "Take the express: it takes 19 minutes, 9 fewer than the regular train. Your "
                "bike isn't allowed on it, though, so with a bike you'd take the regular one.",
            ),
            (
                0,
                "Regular trains run four times an hour from platform 3, and the trip is 28 "
                "minutes.",
            ),
            (0, "Buy your ticket at the machine; on board it costs EUR 2 extra."),
            (0, "The express leaves half-hourly and only stops at the central station."),
            (1, "Bicycles are allowed on the express if you book a space."),
            (1, "The express runs every 30 minutes and takes 19 hours."),
            (1, "The regular train is faster than the express."),
            (1, "Tickets bought on the train cost EUR 2 less than tickets bought at the machine."),
            (
                1,
                "The express runs every 30 minutes and also stops at the university campus.",
            ),
            (1, "Trains leave every 15 minutes from platform 3 and run through the night."),
        ],
    },
    {
        "context": [
            "Holiday entitlement. Staff on full-time contracts get 28 days of paid holiday a "
            "year; part-timers get a proportional amount. A maximum of 3 untaken days roll over "
            "into the next holiday year, where they lapse on 30 April.",
            "Any single holiday longer than three weeks has to be signed off by a director. "
            "Book holidays at least six weeks ahead.",
        ],
        "prompt": "I work 2 days a week. How much holiday do I get, and can I keep some?",
        "answers": [
            (
                0,
                "At 2 of 5 days you get a proportional share of 28 days, which works out to 11.2 "
                "days. Up to 3 untaken days roll over, but you must use them by 30 April.",
            ),
            (
                0,
                "A break of more than 21 days needs a director's sign-off, and you should book "
                "it six weeks in advance.",
            ),
            (0, "Rolled-over days expire at the end of April."),
            (0, "Full-time staff get 28 paid days off per year."),
            (1, "Part-timers get the full 28 days of paid holiday."),
            (1, "A maximum of 3 untaken days roll over and lapse on 30 June."),
            (1, "Any holiday longer than three weeks has to be signed off by your team lead."),
            (1, "Book holidays at least six days ahead."),
            (
                1,
                "Up to 3 untaken days roll over, and the company buys back any further days at "
                "the end of the year.",
            ),
            (1, "Untaken days cannot roll over into the next holiday year."),
        ],
    },
    {
        "context": [
            "Storage plans. The Basic plan includes 100 GB of storage and keeps deleted files "
            "for 30 days. The Pro plan includes 2 TB and keeps deleted files for 180 days.",
            "Both plans allow sharing with up to 5 people. File versioning is available on the "
            "Pro plan only. Upgrading takes effect immediately; downgrading takes effect at the "
            "end of the billing period.",
        ],
        "prompt": "Should I upgrade to Pro to get old versions of my files back?",
        "answers": [
            (
                0,
                "Yes, versioning is only on Pro. Pro also keeps deleted files six times as long "
                "as Basic, 180 days instead of 30.",
            ),
            (0, "An upgrade applies straight away, while a downgrade waits for the period's end."),
            (0, "Pro gives you 20 times the storage of Basic: 2 TB against 100 GB."),
            (0, "On either plan you can share with five people at most."),
            (1, "File versioning is available on both plans."),
            (1, "The Pro plan includes 2 GB and keeps deleted files for 180 days."),
            (1, "Upgrading takes effect at the end of the billing period."),
            (1, "The Basic plan keeps deleted files for longer than the Pro plan."),
            (
                1,
                "Both plans allow sharing with up to 5 people, and shared links expire after a "
                "week.",
            ),
            (1, "Pro keeps deleted files for 180 days, and versions are kept indefinitely."),
        ],
    },
]
