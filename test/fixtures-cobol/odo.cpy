      * A record whose length follows its OCCURS DEPENDING ON count.
      * Read by odo.cbl (COPY) and by the hms-sync copybook parser.
       01  ODO-REC.
           05  O-ID            PIC 9(3).
           05  O-KIND          PIC X(2).
           05  O-COUNT         PIC 9(2).
           05  O-ITEMS OCCURS 0 TO 5 TIMES DEPENDING ON O-COUNT.
               10  O-CODE      PIC X(3).
               10  O-AMT       PIC S9(5)V99 COMP-3.
               10  O-QTY       PIC S9(4) COMP.
